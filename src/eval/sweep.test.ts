/**
 * A falc process killed with SIGKILL mid-eval: bwrap dies with it (--die-with-parent), a runsc
 * sandbox does not. The next eval's sweep kills what is left and removes the cgroup and temp dir.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroupVersion, sweepStale } from "./cgroup.ts";
import { ENGINES } from "./engines/index.ts";

const haveGvisor = await ENGINES.gvisor.check().then(() => true, () => false);

test.skipIf(!haveGvisor || cgroupVersion() !== 1)("leftovers of a SIGKILLed falc process are swept", async () => {
  const tmpRoot = mkdtempSync(join(tmpdir(), `falc-eval-sweep-${process.pid}-`));
  const script = `
    import { runEval } from ${JSON.stringify(join(import.meta.dir, "run.ts"))};
    import { buildLimits } from ${JSON.stringify(join(import.meta.dir, "limits.ts"))};
    await runEval({ code: "import time; time.sleep(60)", language: "python3", engine: "gvisor", limits: buildLimits({ timeout: 60 }) }, { tmpRoot: ${JSON.stringify(tmpRoot)} });
  `;
  const child = Bun.spawn(["bun", "-e", script], { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
  const prefix = `${child.pid.toString(36)}-`;
  const pidsDir = "/sys/fs/cgroup/pids/falc-eval";
  let cg: string | null = null;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const name = existsSync(pidsDir) ? readdirSync(pidsDir).find((n) => n.startsWith(prefix)) : undefined;
    if (name && readFileSync(join(pidsDir, name, "cgroup.procs"), "utf8").trim().split("\n").length >= 3) { cg = name; break; }
    await Bun.sleep(100);
  }
  try {
    expect(cg).not.toBeNull();
    await Bun.sleep(300);
    child.kill("SIGKILL");
    await child.exited;
    await Bun.sleep(200);
    const left = readFileSync(join(pidsDir, cg!, "cgroup.procs"), "utf8").trim().split("\n").filter(Boolean);
    expect(left.length).toBeGreaterThan(0); // runsc outlived its parent
    expect(await sweepStale(tmpRoot)).toBeGreaterThanOrEqual(1);
    for (const c of ["memory", "pids", "cpuacct"]) expect(existsSync(`/sys/fs/cgroup/${c}/falc-eval/${cg}`)).toBe(false);
    // Gone, or a zombie waiting for this VM's init to reap it: nothing runs any more.
    const state = (p: string) => { try { return readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]![0]; } catch { return "gone"; } };
    for (const p of left) expect(["gone", "Z", "X"]).toContain(state(p));
    expect(readdirSync(tmpRoot)).toEqual([]);
  } finally {
    try { child.kill("SIGKILL"); } catch {}
    rmSync(tmpRoot, { recursive: true, force: true });
  }
}, 30_000);
