// Claims with a crowd of delayed tasks in front (issue 19): 50k `--delay` tasks (and 5k in retry backoff)
// are queued first, at a higher priority, then 2k due tasks; we time claim+complete of the due ones.
// The baseline in the same run is the same due tasks on an empty queue: the ratio should be ~1 (O(log n)).
// Usage: bun scripts/bench/claim-delayed.ts [--delayed 50000] [--due 2000] [--backend sqlite|redis|both]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteQueue } from "../../src/queue/sqlite.ts";
import type { Queue } from "../../src/queue/types.ts";
import { numArg } from "./args.ts";

const DELAYED = numArg("--delayed", 50_000);
const DUE = numArg("--due", 2000);
const backendArg = process.argv[process.argv.indexOf("--backend") + 1];
const backend = process.argv.includes("--backend") ? backendArg : "sqlite";

async function crowd(q: Queue, n: number): Promise<void> {
  const day = 86_400_000;
  for (let at = 0; at < n; at += 5000)
    await q.enqueueMany(Array.from({ length: Math.min(5000, n - at) }, (_, i) => ({ stage: "bench", payload: { d: at + i }, priority: 5, delayMs: day })));
  // Tasks in retry backoff sit in the same place: claim some and fail them with a long delay.
  const backoff = Math.min(5000, Math.floor(n / 10));
  if (!backoff) return;
  await q.enqueueMany(Array.from({ length: backoff }, (_, i) => ({ stage: "bench", payload: { b: i }, priority: 9 })));
  for (let i = 0; i < backoff; i++) {
    const t = await q.claim({ stages: ["bench"], worker: "w0", leaseMs: 60_000 });
    if (!t) throw new Error("backoff task not claimable");
    await q.fail(t.id, "w0", { message: "later" }, { delayMs: day });
  }
}

async function run(q: Queue): Promise<number> {
  await q.enqueueMany(Array.from({ length: DUE }, (_, i) => ({ stage: "bench", payload: { i } })));
  const opts = { stages: ["bench"], worker: "w", leaseMs: 30_000 };
  const t0 = performance.now();
  let done = 0;
  let t = await q.claim(opts);
  while (t) {
    const r = await q.completeAndClaim(t.id, "w", null, opts);
    if (r.completed) done++;
    t = r.next;
  }
  const s = (performance.now() - t0) / 1000;
  if (done !== DUE) throw new Error(`completed ${done} of ${DUE}`);
  return DUE / s;
}

async function sqlite(label: string, n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "falc-bench-claim-"));
  const q = new SqliteQueue(join(dir, "q.sqlite"));
  try {
    await crowd(q, n);
    return await run(q);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function redis(n: number): Promise<number> {
  const { startRedis } = await import("../../test/redis-server.ts");
  const { RedisQueue } = await import("../../src/queue/redis.ts");
  const srv = await startRedis();
  const q = new RedisQueue(srv.url());
  try {
    await q.connect();
    await crowd(q, n);
    return await run(q);
  } finally {
    await q.close();
    await srv.stop();
  }
}

const rows: string[] = [];
for (const b of backend === "both" ? ["sqlite", "redis"] : [backend!]) {
  const base = b === "sqlite" ? await sqlite("empty", 0) : await redis(0);
  const crowded = b === "sqlite" ? await sqlite("crowded", DELAYED) : await redis(DELAYED);
  rows.push(`${b.padEnd(7)} due tasks/s: empty ${base.toFixed(0).padStart(6)}   behind ${DELAYED} delayed + backoff ${crowded.toFixed(0).padStart(6)}   ratio ${(crowded / base).toFixed(2)}`);
}
console.log(rows.join("\n"));
