/**
 * The gVisor warm pool: each sandbox serves exactly one evaluation and is destroyed; nothing of
 * one evaluation (files, processes, memory) is visible to the next; closing leaves nothing behind.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GvisorPool, launchLine } from "./pool.ts";
import { runEval } from "./run.ts";
import { buildLimits } from "./limits.ts";
import { skipUnless } from "../../test/skip.ts";

const tmpRoot = mkdtempSync(join(tmpdir(), `falc-eval-pool-${process.pid}-`));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
const limits = buildLimits({ timeout: 5, memory: 128, disk_mb: 16 });
const mine = () => readdirSync("/sys/fs/cgroup/pids/falc-eval").filter((n) => n.startsWith(`${process.pid.toString(36)}-`));

test("the launcher line lowers every limit before the program and stops if one cannot be set", () => {
  const line = launchLine({ id: "x", lang: { argv: ["/usr/bin/python3", "-I"], file: "it's.py" }, limits: buildLimits({ timeout: 3, cpu: 1, file_mb: 2, pids: 7 }), codeDir: "/", stateDir: "/" });
  expect(line).toBe("ulimit -t 4 && ulimit -f 4096 && ulimit -n 256 && ulimit -c 0 && ulimit -p 7 && exec '/usr/bin/python3' '-I' '/code/it'\\''s.py' || exit 125\n");
  // Run by dash as an unprivileged user: it runs the program with the limits, or not at all.
  const run = (pre: string) => {
    const l = launchLine({ id: "x", lang: { argv: ["/bin/sh", "-c", "ulimit -n; echo RAN"], file: "x", exec: true }, limits: buildLimits({ timeout: 3 }), codeDir: "/", stateDir: "/" });
    const p = Bun.spawnSync(["/bin/sh", "-c", `${pre}${l}`], { uid: 65534, gid: 65534 } as never);
    return { code: p.exitCode, out: p.stdout.toString() };
  };
  expect(run("")).toEqual({ code: 0, out: "256\nRAN\n" });
  // A hard limit below what the line asks: `ulimit -n 256` fails, the program never starts.
  expect(run("ulimit -n 100; ")).toEqual({ code: 125, out: "" });
});

skipUnless(process.getuid?.() === 0, "not root")("one sandbox per evaluation: nothing of one is visible to the next; close leaves nothing", async () => {
  const pool = new GvisorPool({ size: 2, bootLimits: limits, tmpRoot });
  try {
    pool.fill();
    await pool.waitReady(2);
    const idle = mine();
    expect(idle.length).toBe(2);
    const a = await runEval({
      code: `
import os, subprocess
for p in ["/work/left", "/tmp/left", "/dev/shm/left"]:
    open(p, "w").write("secret")
subprocess.Popen(["/usr/bin/sleep", "300"], start_new_session=True)
os.environ["LEFT"] = "1"
keep = bytearray(32 * 1024 * 1024)
print("a done", flush=True)
`, language: "python3", engine: "gvisor", limits,
    }, { pool, tmpRoot });
    expect({ status: a.status, stdout: a.stdout, pooled: a.pooled }).toEqual({ status: "completed", stdout: "a done\n", pooled: true });
    // Its sandbox is gone (cgroup removed) — the next one is another.
    const afterA = mine();
    const usedByA = idle.filter((n) => !afterA.includes(n));
    expect(usedByA.length).toBe(1);
    await pool.waitReady(2);
    const b = await runEval({
      code: `
import os
print([os.path.exists(p) for p in ["/work/left", "/tmp/left", "/dev/shm/left"]], os.listdir("/work"), os.listdir("/dev/shm"))
procs = sorted(open(f"/proc/{p}/cmdline").read().replace("\\0", " ").strip() for p in os.listdir("/proc") if p.isdigit())
print(procs)
print("LEFT" in os.environ)
`, language: "python3", engine: "gvisor", limits,
    }, { pool, tmpRoot });
    expect(b.pooled).toBe(true);
    expect(b.stdout).toBe("[False, False, False] [] []\n['/usr/bin/python3 -I -B /code/main.py']\nFalse\n");
    // Its own measurements: A held 32 MB, B did not inherit that peak, nor the boot's CPU time.
    expect(a.max_rss_kb!).toBeGreaterThan(32 * 1024);
    expect(b.max_rss_kb!).toBeLessThan(a.max_rss_kb!);
    expect(b.cpu_ms!).toBeGreaterThan(0);
  } finally {
    await pool.close();
  }
  expect(mine()).toEqual([]);
  expect(readdirSync(tmpRoot)).toEqual([]);
  const runsc = Bun.spawnSync(["ps", "-eo", "stat=,args="]).stdout.toString().split("\n").filter((l) => l.includes(tmpRoot) && !/^Z/.test(l.trim()));
  expect(runsc).toEqual([]);
}, 60_000);

skipUnless(process.getuid?.() === 0, "not root")("an evaluation the pool cannot serve (other disk size) boots cold; limits still hold through the pool", async () => {
  const pool = new GvisorPool({ size: 1, bootLimits: limits, tmpRoot });
  try {
    pool.fill();
    await pool.waitReady(1);
    const cold = await runEval({ code: "print(1)", language: "python3", engine: "gvisor", limits: buildLimits({ timeout: 5, disk_mb: 32 }) }, { pool, tmpRoot });
    expect({ stdout: cold.stdout, pooled: cold.pooled }).toEqual({ stdout: "1\n", pooled: undefined });
    const mem = await runEval({ code: "x = bytearray(200 * 1024 * 1024)", language: "python3", engine: "gvisor", limits: { ...limits, memoryBytes: 64 * 1048576 } }, { pool, tmpRoot });
    expect({ status: mem.status, pooled: mem.pooled }).toEqual({ status: "memory_limit", pooled: true });
    await pool.waitReady(1);
    const t = await runEval({ code: "import time; time.sleep(30)", language: "python3", engine: "gvisor", limits: { ...limits, wallMs: 1000 } }, { pool, tmpRoot });
    expect({ status: t.status, signal: t.signal, pooled: t.pooled }).toEqual({ status: "timeout", signal: "SIGKILL", pooled: true });
    expect(t.duration_ms).toBeLessThan(2000);
    expect(existsSync(tmpRoot)).toBe(true);
  } finally {
    await pool.close();
  }
  expect(mine()).toEqual([]);
}, 60_000);
