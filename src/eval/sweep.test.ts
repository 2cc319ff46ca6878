/**
 * A falc process killed with SIGKILL mid-eval takes its sandbox with it within 1 s, on both
 * engines: bwrap by --die-with-parent, runsc by a parent-death signal on `runsc run` (whose
 * sandbox runs attached). The next eval's sweep removes the cgroup and temp dir left behind.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { cgroupVersion, sweepStale } from "./cgroup.ts";
import { skipUnless } from "../../test/skip.ts";

const state = (p: string) => { try { return readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]![0]; } catch { return "gone"; } };
/** Field 22 of /proc/<pid>/stat: tells a pid reused by a new process (a busy machine) from the one seen before. */
const startTime = (p: string) => { try { return readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ")[19]; } catch { return "gone"; } };
// Gone, or a zombie waiting for this VM's init to reap it: nothing runs any more.
const running = (pids: string[]) => pids.filter((p) => !["gone", "Z", "X"].includes(state(p)!));

for (const engine of ["bwrap", "gvisor"] as const) {
  // runsc run needs root; bwrap has falc's seccomp filter on x86_64 only. (The cgroup v1 layout is read: these machines have it.)
  const t = engine === "gvisor" ? skipUnless(process.getuid?.() === 0, "not root") : skipUnless(arch() === "x64", "other architecture");
  t(`${engine}: kill -9 of falc ends its sandbox within 1 s; the sweep removes what is left`, async () => {
    expect(cgroupVersion()).toBe(1);
    const tmpRoot = mkdtempSync(join(tmpdir(), `falc-eval-sweep-${process.pid}-`));
    const script = `
      import { runEval } from ${JSON.stringify(join(import.meta.dir, "run.ts"))};
      import { buildLimits } from ${JSON.stringify(join(import.meta.dir, "limits.ts"))};
      await runEval({ code: "import time; time.sleep(60)", language: "python3", engine: "${engine}", limits: buildLimits({ timeout: 60 }) }, { tmpRoot: ${JSON.stringify(tmpRoot)} });
    `;
    const child = Bun.spawn(["bun", "-e", script], { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
    const prefix = `${child.pid.toString(36)}-`;
    const pidsDir = "/sys/fs/cgroup/pids/falc-eval";
    const procsOf = (cg: string) => { try { return readFileSync(join(pidsDir, cg, "cgroup.procs"), "utf8").trim().split("\n").filter(Boolean); } catch { return []; } };
    const isProgram = (p: string) => { try { return readFileSync(`/proc/${p}/cmdline`, "utf8").startsWith(engine === "bwrap" ? "/usr/bin/python3" : "runsc-sandbox"); } catch { return false; } };
    let cg: string | null = null;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !cg) {
      const name = existsSync(pidsDir) ? readdirSync(pidsDir).find((n) => n.startsWith(prefix)) : undefined;
      if (name && procsOf(name).some(isProgram)) cg = name;
      else await Bun.sleep(20);
    }
    try {
      expect(cg).not.toBeNull();
      const before = procsOf(cg!);
      const started = new Map(before.map((p) => [p, startTime(p)]));
      expect(before.length).toBeGreaterThanOrEqual(engine === "gvisor" ? 3 : 2);
      child.kill("SIGKILL");
      const killedAt = Date.now();
      await child.exited;
      // Each process seen in the sandbox's cgroup is gone or a zombie (a pid now held by a newer process counts as gone).
      // Waited for too: a killed process leaves its cgroup a moment before it is a zombie (still `R` in do_exit).
      const ended = (p: string) => (startTime(p) === started.get(p) ? state(p) : "gone");
      while ((running(procsOf(cg!)).length || before.some((p) => !/^(gone|Z|X)$/.test(ended(p)!))) && Date.now() - killedAt < 3000) await Bun.sleep(10);
      const took = Date.now() - killedAt;
      expect(running(procsOf(cg!))).toEqual([]);
      for (const p of before) expect(ended(p)).toMatch(/^(gone|Z|X)$/);
      expect(took).toBeLessThan(1000);
      expect(await sweepStale(tmpRoot)).toBeGreaterThanOrEqual(1);
      for (const c of ["memory", "pids", "cpuacct"]) expect(existsSync(`/sys/fs/cgroup/${c}/falc-eval/${cg}`)).toBe(false);
      expect(readdirSync(tmpRoot)).toEqual([]);
    } finally {
      try { child.kill("SIGKILL"); } catch {}
      rmSync(tmpRoot, { recursive: true, force: true });
    }
  }, 30_000);
}
