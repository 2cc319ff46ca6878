import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { buildLimits, DEFAULT_LIMITS } from "./limits.ts";
import { CappedCapture } from "./capture.ts";
import { resolveLanguage, languageFromFile, DEFAULT_LANGUAGES } from "./languages.ts";
import { backoffMs } from "./pull-worker.ts";
import { evalConfigSchema } from "./config.ts";
import { selectEngine } from "./run.ts";
import { resultExitCode } from "./format.ts";

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
  });
});

describe("pull worker backoff", () => {
  test("5 s, 10 s, 15 s … capped at 30 s", () => {
    expect([1, 2, 3, 6, 7, 50].map((n) => backoffMs(n))).toEqual([5000, 10000, 15000, 30000, 30000, 30000]);
  });
});

describe("config and engine selection", () => {
  test("eval section defaults and strictness", () => {
    expect(evalConfigSchema.parse({}).order).toEqual(["gvisor", "bwrap", "docker"]);
    expect(evalConfigSchema.safeParse({ engine: "vm" }).success).toBe(false);
    expect(evalConfigSchema.safeParse({ limits: { memory: 8 } }).success).toBe(false);
  });

  test("auto records every skipped engine; an explicit engine does not fall back unless asked", async () => {
    const auto = await selectEngine({ engine: "auto" }, { order: ["docker", "bwrap"] });
    expect(auto.engine?.name).toBe("bwrap");
    expect(auto.fallbacks.map((f) => f.engine)).toEqual(["docker"]);
    const strict = await selectEngine({ engine: "docker" });
    expect(strict.engine).toBeNull();
    const fb = await selectEngine({ engine: "docker" }, { fallback: true, order: ["gvisor", "bwrap", "docker"] });
    expect(fb.engine?.name).toBe("gvisor");
  });

  test("exit code for CI", () => {
    expect(resultExitCode({ status: "completed" } as never)).toBe(0);
    for (const s of ["failed", "timeout", "memory_limit", "output_limit", "error"]) expect(resultExitCode({ status: s } as never)).toBe(1);
  });
});

describe("seccomp filter", () => {
  test("x86_64: arch check first, every denied call jumps to EPERM, allow by default", async () => {
    const { seccompFilter, DENIED_X86_64 } = await import("./seccomp.ts");
    const f = seccompFilter();
    if (!f) return; // not x86_64
    expect(f.length % 8).toBe(0);
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const n = f.length / 8;
    const at = (i: number) => ({ code: dv.getUint16(i * 8, true), jt: dv.getUint8(i * 8 + 2), k: dv.getUint32(i * 8 + 4, true) });
    expect(at(1).k).toBe(0xc000003e);
    expect(at(n - 3).k).toBe(0x7fff0000);
    expect(at(n - 2).k).toBe(0x00050001);
    for (let i = 5; i < n - 4; i++) {
      const ins = at(i);
      expect(Object.values(DENIED_X86_64)).toContain(ins.k);
      expect(i + 1 + ins.jt).toBe(n - 2);
    }
  });
});

describe("rlimits by prlimit(2)", () => {
  test("set on a real process, as prlimit would", async () => {
    const { canSetRlimits, setRlimits } = await import("./rlimits.ts");
    if (!canSetRlimits()) return; // not glibc: bwrap falls back to the prlimit command
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
