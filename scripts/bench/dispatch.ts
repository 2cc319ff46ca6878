// No-op tasks through `falc worker` (handler → 4 children over unix sockets) vs the same tasks
// claimed and completed directly on the queue in one process (the baseline: no IPC, no handler).
// Fencing is on in both: every call carries the attempt token of its claim, as the handler's do.
// Usage: bun scripts/bench/dispatch.ts [--tasks 2000] [--children 4]   (uses $FALC_BIN or dist/falc)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SqliteQueue } from "../../src/queue/sqlite.ts";
import { numArg } from "./args.ts";

const N = numArg("--tasks", 2000);
const CHILDREN = numArg("--children", 4);
const FALC = resolve(process.env.FALC_BIN ?? join(import.meta.dir, "../../dist/falc"));

async function baseline(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "falc-bench-"));
  const q = new SqliteQueue(join(dir, "queue.sqlite"));
  await q.enqueueMany(Array.from({ length: N }, (_, i) => ({ stage: "noop", payload: i })));
  const t0 = performance.now();
  for (;;) {
    const t = await q.claim({ stages: ["noop"], worker: "w", leaseMs: 30_000 });
    if (!t) break;
    await q.start(t.id, "w", t.token);
    await q.complete(t.id, "w", t.payload, t.token);
  }
  const s = (performance.now() - t0) / 1000;
  await q.close();
  rmSync(dir, { recursive: true, force: true });
  return N / s;
}

async function throughHandler(): Promise<number> {
  const home = mkdtempSync(join(tmpdir(), "falc-bench-"));
  const q = new SqliteQueue(join(home, "queue.sqlite"));
  const proc = Bun.spawn([FALC, "worker", "--stage", "noop", "--count", `noop=${CHILDREN}`, "--poll-ms", "10", "--no-health", "--no-tui", "--log-level", "error"], {
    env: { ...process.env, FALC_HOME: home },
    stdout: "ignore",
    stderr: "inherit",
  });
  // Let the children finish setting up, so start-up is not counted as dispatch.
  const ready = Date.now() + 30_000;
  while ((await q.listWorkers()).filter((w) => w.kind === "child" && w.state === "idle").length < CHILDREN && Date.now() < ready) await Bun.sleep(20);
  await q.enqueueMany(Array.from({ length: N }, (_, i) => ({ stage: "noop", payload: i })));
  const t0 = performance.now();
  while (((await q.stats()).noop?.finished ?? 0) < N) await Bun.sleep(5);
  const s = (performance.now() - t0) / 1000;
  proc.kill("SIGTERM");
  await proc.exited;
  await q.close();
  rmSync(home, { recursive: true, force: true });
  return N / s;
}

const base = await baseline();
const disp = await throughHandler();
console.log(`dispatch benchmark: ${N} no-op tasks, ${CHILDREN} children, sqlite queue, fencing on (attempt tokens)`);
console.log(`  baseline (direct claim→complete, one process): ${base.toFixed(0)} tasks/s`);
console.log(`  falc worker (handler → children over unix sockets): ${disp.toFixed(0)} tasks/s`);
console.log(`  ratio falc worker / baseline: ${(disp / base).toFixed(2)}x`);
console.log(`  per-task overhead of dispatch: ${((1 / disp - 1 / base) * 1000).toFixed(3)} ms`);
