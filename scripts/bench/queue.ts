// enqueue → claim → complete, tasks/s, for the SQLite backend, the Redis backend and plain BullMQ
// (Queue + Worker with a no-op processor), all in one run on this machine, one consumer each, the Redis
// ones against the same private redis-server. "single" awaits each enqueue; "batched" enqueues all at once
// (enqueueMany / addBulk). Each figure is N / (time to enqueue all + time until all are completed).
// falc's consumer loop is the worker's: claim once, then completeAndClaim (one call per task, as BullMQ's
// Worker fetches its next job with moveToFinished); "claim+complete" rows show the two-call loop, batched.
// Usage: bun scripts/bench/queue.ts [--tasks 5000] [--rounds 3]   (best of the rounds is kept)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue as BullQueue, Worker as BullWorker } from "bullmq";
import { SqliteQueue } from "../../src/queue/sqlite.ts";
import { RedisQueue } from "../../src/queue/redis.ts";
import { parseRedisUrl } from "../../src/queue/redis-url.ts";
import { startRedis } from "../../test/redis-server.ts";
import type { Queue } from "../../src/queue/types.ts";
import { numArg } from "./args.ts";

const N = numArg("--tasks", 5000);
const ROUNDS = numArg("--rounds", 3);
type Mode = "single" | "batched";

interface Figure {
  total: number;
  enqueue: number;
  process: number;
}

/** "next": claim once, then completeAndClaim (the worker's loop); "pairs": claim, complete, claim, … */
type Loop = "next" | "pairs";

async function falcRun(q: Queue, mode: Mode, loop: Loop = "next"): Promise<Figure> {
  const inputs = Array.from({ length: N }, (_, i) => ({ stage: "bench", payload: { i } }));
  const t0 = performance.now();
  if (mode === "batched") await q.enqueueMany(inputs);
  else for (const i of inputs) await q.enqueue(i);
  const t1 = performance.now();
  let done = 0;
  const opts = { stages: ["bench"], worker: "w", leaseMs: 30_000 };
  if (loop === "pairs") {
    for (;;) {
      const t = await q.claim(opts);
      if (!t) break;
      await q.complete(t.id, "w", null);
      done++;
    }
  } else {
    // What `falc worker` does for a busy child: record the result and take the next task in one call.
    let t = await q.claim(opts);
    while (t) {
      const r = await q.completeAndClaim(t.id, "w", null, opts);
      if (r.completed) done++;
      t = r.next;
    }
  }
  const t2 = performance.now();
  if (done !== N) throw new Error(`completed ${done} of ${N}`);
  return { total: N / ((t2 - t0) / 1000), enqueue: N / ((t1 - t0) / 1000), process: N / ((t2 - t1) / 1000) };
}

async function bullRun(url: string, mode: Mode, name: string): Promise<Figure> {
  const connection = parseRedisUrl(url);
  const queue = new BullQueue(name, { connection });
  await queue.waitUntilReady();
  const t0 = performance.now();
  if (mode === "batched") {
    for (let at = 0; at < N; at += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, N - at) }, (_, i) => ({ name: "bench", data: { i: at + i } })));
  } else for (let i = 0; i < N; i++) await queue.add("bench", { i });
  const t1 = performance.now();
  let done = 0;
  let resolve!: () => void;
  const all = new Promise<void>((r) => (resolve = r));
  const worker = new BullWorker(name, async () => null, { connection, concurrency: 1, autorun: false });
  worker.on("completed", () => {
    if (++done === N) resolve();
  });
  void worker.run();
  await all;
  const t2 = performance.now();
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return { total: N / ((t2 - t0) / 1000), enqueue: N / ((t1 - t0) / 1000), process: N / ((t2 - t1) / 1000) };
}

const best = (a: Figure | undefined, b: Figure) => (!a || b.total > a.total ? b : a);
const results: Record<string, Figure> = {};
const server = await startRedis();
let db = 1;
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of ["single", "batched"] as Mode[]) {
      const dir = mkdtempSync(join(tmpdir(), "falc-bench-q-"));
      const sq = new SqliteQueue(join(dir, "queue.sqlite"));
      results[`sqlite ${mode}`] = best(results[`sqlite ${mode}`], await falcRun(sq, mode));
      await sq.close();
      rmSync(dir, { recursive: true, force: true });

      const rq = new RedisQueue(server.url(db++), {});
      await rq.connect();
      results[`redis backend ${mode}`] = best(results[`redis backend ${mode}`], await falcRun(rq, mode));
      await rq.close();
      if (mode === "batched") {
        // For reference: two calls per task (claim, complete) instead of one.
        const dir2 = mkdtempSync(join(tmpdir(), "falc-bench-q-"));
        const sq2 = new SqliteQueue(join(dir2, "queue.sqlite"));
        results[`sqlite claim+complete`] = best(results[`sqlite claim+complete`], await falcRun(sq2, mode, "pairs"));
        await sq2.close();
        rmSync(dir2, { recursive: true, force: true });
        const rq2 = new RedisQueue(server.url(db++), {});
        await rq2.connect();
        results[`redis claim+complete`] = best(results[`redis claim+complete`], await falcRun(rq2, mode, "pairs"));
        await rq2.close();
      }

      results[`plain bullmq ${mode}`] = best(results[`plain bullmq ${mode}`], await bullRun(server.url(db++), mode, `bench${r}${mode}`));
    }
  }
} finally {
  await server.stop();
}

const f = (x: number) => x.toFixed(0).padStart(7);
console.log(`queue benchmark: ${N} tasks, enqueue → claim → complete, one consumer, best of ${ROUNDS} rounds (tasks/s)`);
console.log(`  ${"".padEnd(22)} ${"total".padStart(7)} ${"enqueue".padStart(7)} ${"consume".padStart(14)}`);
for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(22)} ${f(v.total)} ${f(v.enqueue)} ${f(v.process).padStart(14)}`);
const ratio = (a: string, b: string) => (results[a]!.total / results[b]!.total).toFixed(2);
console.log("ratios (total):");
for (const mode of ["single", "batched"]) {
  console.log(`  sqlite ${mode} / plain bullmq ${mode}: ${ratio(`sqlite ${mode}`, `plain bullmq ${mode}`)}x   (goal >= 2)`);
  console.log(`  redis backend ${mode} / plain bullmq ${mode}: ${ratio(`redis backend ${mode}`, `plain bullmq ${mode}`)}x   (goal >= 0.8)`);
}
