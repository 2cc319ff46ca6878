import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { buildLimits, DEFAULT_LIMITS } from "./limits.ts";
import { CappedCapture } from "./capture.ts";
import { resolveLanguage, languageFromFile, DEFAULT_LANGUAGES } from "./languages.ts";
import { backoffMs } from "./pull-worker.ts";
import { evalConfigSchema } from "./config.ts";
import { selectEngine } from "./run.ts";
import { resultExitCode } from "./format.ts";
import { arch } from "node:os";

import { skipUnless } from "../../test/skip.ts";

describe("limits", () => {
  test("layers override the defaults; CPU follows the wall time unless set", () => {
    expect(buildLimits()).toEqual(DEFAULT_LIMITS);
    const l = buildLimits({ timeout: 5, memory: 128 }, { timeout: 2 });
    expect(l.wallMs).toBe(2000);
    expect(l.cpuMs).toBe(2000);
    expect(l.memoryBytes).toBe(128 * 1024 * 1024);
    expect(buildLimits({ timeout: 5, cpu: 1 }).cpuMs).toBe(1000);
  });
});

describe("capture", () => {
  test("keeps up to the cap, flags truncation once", () => {
    let overflows = 0;
    const c = new CappedCapture(5, () => overflows++);
    c.push(new TextEncoder().encode("abc"));
    c.push(new TextEncoder().encode("defgh"));
    c.push(new TextEncoder().encode("ij"));
    expect(c.text()).toBe("abcde");
    expect(c.truncated).toBe(true);
    expect(c.total).toBe(10);
    expect(overflows).toBe(1);
  });
});

describe("languages", () => {
  test("names, aliases, extensions, unknown", () => {
    expect(resolveLanguage("python").name).toBe("python3");
    expect(resolveLanguage("js").lang).toEqual(DEFAULT_LANGUAGES.node!);
    expect(languageFromFile("a/b.sh")).toBe("sh");
    expect(() => resolveLanguage("cobol")).toThrow("unknown language `cobol`");
    expect(resolveLanguage("c++").name).toBe("cpp");
    expect(languageFromFile("x/main.cc")).toBe("cpp");
    expect(evalConfigSchema.safeParse({ languages: { rust: { compile: ["/usr/bin/rustc", "-o", "{out}", "{src}"], argv: ["/code/main"], file: "main.rs" } } }).success).toBe(true);
    const noOut = evalConfigSchema.safeParse({ languages: { rust: { compile: ["/usr/bin/rustc", "{src}"], argv: ["/code/main"], file: "main.rs" } } });
    expect(noOut.success).toBe(false);
  });
});

describe("pull worker backoff", () => {
  test("5 s, 10 s, 20 s, then capped at 30 s (falc's one backoff)", () => {
    expect([1, 2, 3, 4, 7, 50].map((n) => backoffMs(n))).toEqual([5000, 10000, 20000, 30000, 30000, 30000]);
  });
});

describe("config and engine selection", () => {
  test("eval section defaults and strictness", () => {
    expect(evalConfigSchema.parse({}).order).toEqual(["gvisor", "bwrap", "docker"]);
    expect(evalConfigSchema.safeParse({ engine: "vm" }).success).toBe(false);
    expect(evalConfigSchema.safeParse({ limits: { memory: 8 } }).success).toBe(false);
  });

  test("auto records every skipped engine; an explicit engine does not fall back unless asked", async () => {
    // What is installed here is detected, not assumed (a machine may have Docker, or lack runsc).
    const { ENGINES } = await import("./engines/index.ts");
    const up = async (n: "gvisor" | "bwrap" | "docker") => ENGINES[n].check().then(() => true, () => false);
    const have = { gvisor: await up("gvisor"), bwrap: await up("bwrap"), docker: await up("docker") };
    const order = ["docker", "bwrap", "gvisor"] as const;
    const auto = await selectEngine({ engine: "auto" }, { order: [...order] });
    const first = order.find((e) => have[e]) ?? null;
    expect(auto.engine?.name ?? null).toBe(first);
    expect(auto.fallbacks.map((f) => f.engine)).toEqual(order.slice(0, first ? order.indexOf(first) : order.length));
    for (const f of auto.fallbacks) expect(f.reason.length).toBeGreaterThan(0);
    for (const e of order) {
      const strict = await selectEngine({ engine: e }, { order: [...order] });
      expect(strict.engine?.name ?? null).toBe(have[e] ? e : null);
      const fb = await selectEngine({ engine: e }, { fallback: true, order: [...order] });
      expect(fb.engine?.name ?? null).toBe(have[e] ? e : first);
    }
  });

  test("exit code for CI", () => {
    expect(resultExitCode({ status: "completed" } as never)).toBe(0);
    for (const s of ["failed", "timeout", "memory_limit", "output_limit", "error"]) expect(resultExitCode({ status: s } as never)).toBe(1);
  });
});

describe("seccomp filter", () => {
  /** Run the classic-BPF program the way the kernel does, for one syscall. */
  function runBpf(f: Uint8Array, data: { nr: number; arch: number; arg0: number }): number {
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const word = (off: number) => (off === 0 ? data.nr : off === 4 ? data.arch : off === 16 ? data.arg0 : 0) >>> 0;
    let acc = 0;
    for (let pc = 0, steps = 0; steps < 10_000; steps++) {
      const code = dv.getUint16(pc * 8, true), jt = dv.getUint8(pc * 8 + 2), jf = dv.getUint8(pc * 8 + 3), k = dv.getUint32(pc * 8 + 4, true);
      if (code === 0x20) { acc = word(k); pc++; }
      else if (code === 0x06) return k;
      else if (code === 0x15) pc += 1 + (acc === k ? jt : jf);
      else if (code === 0x35) pc += 1 + (acc >= k ? jt : jf);
      else if (code === 0x45) pc += 1 + ((acc & k) !== 0 ? jt : jf);
      else throw new Error(`unknown BPF opcode ${code} at ${pc}`);
    }
    throw new Error("BPF program did not return");
  }

  skipUnless(arch() === "x64", "other architecture")("x86_64 (other architectures have no filter, so bwrap refuses to run there): randomized against the rules", async () => {
    const { seccompFilter, DENIED_X86_64, CLONE_NS_MASK } = await import("./seccomp.ts");
    const f = seccompFilter()!;
    expect(f.length % 8).toBe(0);
    const seed = Number(process.env.FALC_TEST_SEED ?? Date.now() % 1_000_000);
    console.log(`seccomp randomized test seed ${seed} (FALC_TEST_SEED=${seed} to replay)`);
    let x = seed || 1;
    const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x);
    const denied = new Set(Object.values(DENIED_X86_64));
    const expected = (nr: number, a: number, arg0: number) =>
      a !== 0xc000003e ? 0x80000000 : nr >= 0x40000000 || denied.has(nr) ? 0x00050001 : nr === 435 ? 0x00050026 : nr === 56 && (arg0 & CLONE_NS_MASK) !== 0 ? 0x00050001 : 0x7fff0000;
    const cases: [number, number, number][] = [[56, 0xc000003e, 0x10000000 | 17], [56, 0xc000003e, 0x01200011], [435, 0xc000003e, 0], [425, 0xc000003e, 0], [272, 0xc000003e, 0], [0x40000001, 0xc000003e, 0], [0, 0x40000003, 0]];
    for (let i = 0; i < 5000; i++) {
      const nr = i % 3 === 0 ? 56 : rnd() % 460;
      cases.push([nr, i % 97 === 0 ? rnd() : 0xc000003e, i % 2 ? rnd() : rnd() & ~CLONE_NS_MASK]);
    }
    for (const [nr, a, arg0] of cases) expect({ nr, a, arg0, ret: runBpf(f, { nr, arch: a, arg0 }) }).toEqual({ nr, a, arg0, ret: expected(nr, a, arg0) });
  });
});

describe("rlimits by prlimit(2)", () => {
  // falc targets Debian (glibc): the binding must load (elsewhere bwrap would run `prlimit`).
  test("set on a real process, as prlimit would", async () => {
    const { canSetRlimits, setRlimits } = await import("./rlimits.ts");
    expect(canSetRlimits()).toBe(true);
    const p = Bun.spawn(["sleep", "10"], { stdio: ["ignore", "ignore", "ignore"] });
    try {
      setRlimits(p.pid, buildLimits({ cpu: 3, file_mb: 2 }));
      const limits = readFileSync(`/proc/${p.pid}/limits`, "utf8");
      expect(limits).toMatch(/Max cpu time\s+3\s+3\s+seconds/);
      expect(limits).toMatch(new RegExp(`Max file size\\s+${2 * 1048576}\\s+${2 * 1048576}\\s+bytes`));
      expect(limits).toMatch(/Max open files\s+256\s+256\s+files/);
      expect(limits).toMatch(/Max core file size\s+0\s+0\s+bytes/);
    } finally {
      p.kill("SIGKILL");
      await p.exited;
    }
    expect(() => setRlimits(p.pid, buildLimits())).toThrow("cannot set the sandbox's rlimits");
  });
});

describe("eval temp root", () => {
  test("on a tmpfs when there is one; refused unless private to falc's user", async () => {
    const { defaultTmpRoot, ensurePrivateRoot } = await import("./tmproot.ts");
    const { chmodSync, mkdtempSync, rmSync, statfsSync, symlinkSync, statSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    let shmIsTmpfs = false;
    try { shmIsTmpfs = statfsSync("/dev/shm").type === 0x01021994; } catch {}
    expect(defaultTmpRoot()).toBe(shmIsTmpfs ? "/dev/shm/falc-eval" : join(tmpdir(), "falc-eval"));
    const base = mkdtempSync(join(tmpdir(), "falc-tmproot-"));
    try {
      const ok = join(base, "a", "falc-eval");
      ensurePrivateRoot(ok);
      expect(statSync(ok).mode & 0o777).toBe(0o711);
      const open = join(base, "open");
      ensurePrivateRoot(open);
      chmodSync(open, 0o777);
      expect(() => ensurePrivateRoot(open)).toThrow("is not a directory owned by falc's user");
      const link = join(base, "link");
      symlinkSync(ok, link);
      expect(() => ensurePrivateRoot(link)).toThrow("is not a directory owned by falc's user");
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe("box uids", () => {
  test("each box gets a uid of its own from falc's range; given back, or taken over from a holder that is gone", async () => {
    const { acquireBoxIdentity, BOX_UIDS, checkBoxRange, sweepBoxUids } = await import("./box-uid.ts");
    const { mkdtempSync, readdirSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const d = mkdtempSync(join(tmpdir(), "falc-box-uid-"));
    try {
      const file = (name: string, text: string) => { const p = join(d, name); writeFileSync(p, text); return p; };
      const empty = file("group", "root:x:0:\n");
      expect(checkBoxRange(file("ok", "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"), empty)).toBeNull();
      expect(checkBoxRange(file("in", `root:x:0:0::/root:/bin/sh\nsomeone:x:${BOX_UIDS.first + 5}:100::/:/bin/sh\n`), empty)).toContain("account someone has id 61005, inside the uid range");
      expect(checkBoxRange(empty, file("g", `grp:x:${BOX_UIDS.first}:\n`))).toContain("group grp");
      if (process.getuid?.() !== 0) {
        // Not root: falc is already unprivileged and runs the sandbox as itself.
        expect(acquireBoxIdentity(join(d, "locks"))).toMatchObject({ uid: process.getuid!(), gid: process.getgid!() });
        return;
      }
      const locks = join(d, "locks");
      const ids = Array.from({ length: 20 }, () => acquireBoxIdentity(locks));
      const uids = ids.map((i) => (typeof i === "string" ? -1 : i.uid));
      expect(new Set(uids).size).toBe(20);
      for (const u of uids) expect(u >= BOX_UIDS.first && u < BOX_UIDS.first + BOX_UIDS.count).toBe(true);
      for (const i of ids) if (typeof i !== "string") expect(i.gid).toBe(i.uid);
      for (const i of ids) if (typeof i !== "string") i.release();
      expect(readdirSync(locks)).toEqual([]);
      // Every uid held by a process that is gone (pid 2^22 - 1 does not run): all are taken over.
      for (let u = BOX_UIDS.first; u < BOX_UIDS.first + BOX_UIDS.count; u++) writeFileSync(join(locks, String(u)), "4194303 1\n");
      const again = acquireBoxIdentity(locks);
      expect(typeof again).not.toBe("string");
      // The sweep gives back the rest of them (what a killed falc left), keeping the live one's.
      expect(sweepBoxUids(locks)).toBe(BOX_UIDS.count - 1);
      expect(readdirSync(locks)).toEqual([String((again as { uid: number }).uid)]);
      // Held by a live process (this one): none is free, and the reason says so.
      const mine = await Bun.file(`/proc/${process.pid}/stat`).text();
      const since = mine.slice(mine.lastIndexOf(")") + 2).split(" ")[19];
      for (let u = BOX_UIDS.first; u < BOX_UIDS.first + BOX_UIDS.count; u++) writeFileSync(join(locks, String(u)), `${process.pid} ${since}\n`);
      expect(acquireBoxIdentity(locks)).toContain("sandbox uids (61000–61127) are in use");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  test("a zombie with a box uid (never reaped on this VM) does not keep the uid from being given back", async () => {
    const { BOX_UIDS, sweepBoxUids } = await import("./box-uid.ts");
    const { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const uid = BOX_UIDS.first + 7;
    // sh starts a child as the box uid that exits at once, then becomes sleep, which never reaps it: a zombie.
    const parent = Bun.spawn(["sh", "-c", `setpriv --reuid=${uid} --regid=${uid} --clear-groups true & exec sleep 30`], { stdout: "ignore", stderr: "ignore" });
    const d = mkdtempSync(join(tmpdir(), "falc-box-zombie-"));
    try {
      const zombie = () =>
        readdirSync("/proc").some((p) => {
          if (!/^\d+$/.test(p)) return false;
          try {
            const st = readFileSync(`/proc/${p}/status`, "utf8");
            return /^State:\s+Z/m.test(st) && new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(st);
          } catch {
            return false;
          }
        });
      for (const until = Date.now() + 5000; !zombie(); await Bun.sleep(10)) if (Date.now() > until) throw new Error("no zombie with the box uid appeared");
      writeFileSync(join(d, String(uid)), "4194303 1\n");
      expect(sweepBoxUids(d)).toBe(1);
      expect(readdirSync(d)).toEqual([]);
    } finally {
      parent.kill("SIGKILL");
      rmSync(d, { recursive: true, force: true });
    }
  });
});


describe("operator ceilings", () => {
  test("refuse names the first field over; clamp lowers each to its ceiling; stdin is never cut", async () => {
    const { applyCeilings, DEFAULT_MAX_LIMITS } = await import("./ceilings.ts");
    const max = { ...DEFAULT_MAX_LIMITS };
    const p = { timeout: 30, memory: 2048, limits: { pids: 4096, output_kb: 1048576, cpu: 5 } };
    expect(() => applyCeilings({ ...p, timeout: 60 }, max, "refuse")).toThrow("memory: 2048 is over the operator's maximum 1024 (eval.max_limits.memory)");
    const c = applyCeilings(p, max, "clamp");
    expect(c.payload).toEqual({ timeout: 30, memory: 1024, limits: { pids: 256, output_kb: 16384, cpu: 5 } });
    expect(c.clamped.map((v) => v.field)).toEqual(["memory", "limits.pids", "limits.output_kb"]);
    expect(applyCeilings({ timeout: 60, limits: { memory: 1024 } }, max, "refuse").clamped).toEqual([]);
    expect(() => applyCeilings({}, { ...max, stdin_kb: 1 }, "clamp", 2048)).toThrow("stdin: 2 is over the operator's maximum 1");
  });

  test("config: defaults must sit under the ceilings", async () => {
    const { evalSettings } = await import("./config.ts");
    expect(evalSettings({ eval: {} } as never).maxLimits.memory).toBe(1024);
    expect(() => evalSettings({ eval: { limits: { memory: 2048 } } } as never)).toThrow("eval.limits.memory: 2048 is over the operator's maximum 1024");
    expect(evalSettings({ eval: { limits: { memory: 2048 }, max_limits: { memory: 4096 } } } as never).maxLimits.memory).toBe(4096);
  });
});

describe("swap accounting", () => {
  test("a missing swap limit is logged with its consequence when swap is on, and only then", async () => {
    const { warnSwapUnlimited } = await import("./cgroup.ts");
    const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const d = mkdtempSync(join(tmpdir(), "falc-swaps-"));
    try {
      const header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
      writeFileSync(join(d, "off"), header);
      writeFileSync(join(d, "on"), header + "/swapfile file 1048572 0 -2\n");
      const lines: [Record<string, unknown>, string][] = [];
      const log = { warn: (o: Record<string, unknown>, m: string) => lines.push([o, m]) } as never;
      expect(warnSwapUnlimited("no memsw", log, join(d, "off"))).toBe(false);
      expect(lines).toEqual([]);
      expect(warnSwapUnlimited("no memsw", log, join(d, "on"))).toBe(true);
      expect(lines[0]![0]).toMatchObject({ event: "eval_swap_unlimited", reason: "no memsw" });
      expect(lines[0]![1]).toContain("can use swap beyond their memory limit");
      // An unreadable /proc/swaps counts as swap on: the warning is not lost.
      expect(warnSwapUnlimited("x", log, join(d, "missing"))).toBe(true);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
