// Queries at 1M kept tasks on the Redis queue (issue 19): list, filtered lists, stats, a keyset page, text
// searches, the TUI's first paint data, and `falc tasks list` through dist/falc, against the same on 1,000
// tasks measured in the same run (a private redis-server on loopback). Goal: under 50 ms at 1M.
// Usage: bun scripts/bench/million-redis.ts [--rows 1000000]
import { resolve } from "node:path";
import { numArg } from "./args.ts";
import { RedisQueue } from "../../src/queue/redis.ts";
import { startRedis } from "../../test/redis-server.ts";
import { tuiSnapshot } from "../../src/tui/snapshot.ts";

const ROWS = numArg("--rows", 1_000_000);
const FALC = resolve(import.meta.dir, "../../dist/falc");
const STAGES = ["identification", "pre", "post", "scan", "eval"];

/**
 * Enqueue through the queue itself (a day's delay, so nothing is claimable), then end most of them the way
 * complete and fail do (hash fields, status index, BullMQ set) in one script per stage and chunk: 94 %
 * finished, 3 % failed, 1 % cancelled, 2 % left queued.
 */
const END_LUA = `
local stage, skip, n, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZRANGE', 'falc:' .. stage .. ':delayed', skip, skip + n - 1)
local ended, kept = 0, 0
for _, id in ipairs(ids) do
  local k = 'falc:' .. stage .. ':' .. id
  local ord = tonumber(redis.call('HGET', k, 'ord'))
  local r = ord % 100
  if r < 98 then
    local st = r < 94 and 'finished' or (r < 97 and 'failed' or 'cancelled')
    redis.call('ZREM', 'falc:' .. stage .. ':delayed', id)
    redis.call('ZREM', 'falc:_x:' .. stage .. ':queued', id)
    redis.call('ZADD', 'falc:_x:' .. stage .. ':' .. st, ord, id)
    redis.call('ZADD', 'falc:' .. stage .. ':' .. (st == 'finished' and 'completed' or 'failed'), now, id)
    redis.call('HSET', k, 'st', st, 'fa', now, 'finishedOn', now, 'att', 1)
    ended = ended + 1
  else
    kept = kept + 1
  end
end
return { ended, kept }
`;

async function fill(q: RedisQueue, url: string, rows: number): Promise<void> {
  for (let at = 0; at < rows; at += 10_000) {
    const n = Math.min(10_000, rows - at);
    await q.enqueueMany(Array.from({ length: n }, (_, i) => ({ stage: STAGES[(at + i) % 5]!, payload: { n: at + i }, delayMs: 86_400_000 })));
  }
  const { default: Redis } = await import("ioredis");
  const r = new Redis(url);
  // The delayed set is ordered by run time: the tasks kept queued stay at its front, the rest are ended in turn.
  for (const stage of STAGES) {
    for (let skip = 0; ; ) {
      const [ended, kept] = (await r.eval(END_LUA, 0, stage, skip, 5000, Date.now())) as number[];
      if (!ended && !kept) break;
      skip += kept!;
    }
  }
  r.disconnect();
}

async function time(fn: () => Promise<unknown>, n = 7): Promise<number> {
  const xs: number[] = [];
  await fn();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return xs.sort((a, b) => a - b)[Math.floor(n / 2)]!;
}

async function measure(url: string): Promise<Record<string, number>> {
  const q = new RedisQueue(url);
  await q.connect();
  const out: Record<string, number> = {};
  out["list (50 newest)"] = await time(() => q.list({ limit: 50 }));
  out["list --status failed"] = await time(() => q.list({ status: "failed", limit: 50 }));
  out["list --stage scan"] = await time(() => q.list({ stage: "scan", limit: 50 }));
  out["stats"] = await time(() => q.stats());
  const p1 = await q.page({ limit: 50 });
  out["page 2 (keyset)"] = await time(() => q.page({ limit: 50, after: p1.next }));
  const old = (await q.page({ limit: 1, order: "oldest", status: "finished" })).tasks[0]!.id;
  await q.page({ text: "t", limit: 1 }); // builds falc:_ids if it is missing (not the case here: enqueue kept it)
  out["search: one old id by prefix"] = await time(() => q.page({ text: old.slice(0, -2), limit: 50 }));
  out["search: 't' (every id), page 1"] = await time(() => q.page({ text: "t", limit: 50 }));
  out["search: 't' --status failed"] = await time(() => q.page({ text: "t", status: "failed", limit: 50 }));
  out["TUI first paint data"] = await time(() => tuiSnapshot(q));
  await q.close();
  out["dist/falc tasks list (process)"] = await time(async () => {
    const p = Bun.spawn([FALC, "tasks", "list", "--queue", url], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    await new Response(p.stdout).text();
    if ((await p.exited) !== 0) throw new Error(`falc tasks list failed: ${await new Response(p.stderr).text()}`);
  }, 5);
  return out;
}

const server = await startRedis();
try {
  const small = server.url(1);
  const big = server.url(2);
  const t = Date.now();
  for (const [url, rows] of [[small, 1000], [big, ROWS]] as const) {
    const q = new RedisQueue(url);
    await q.connect();
    await fill(q, url, rows);
    await q.close();
  }
  const { default: Redis } = await import("ioredis");
  const r = new Redis(big);
  const mem = String(await r.info("memory")).match(/used_memory:(\d+)/)?.[1];
  const kept = await r.hlen("falc:_t");
  r.disconnect();
  console.log(`filled ${kept} tasks (+1,000) in ${((Date.now() - t) / 1000).toFixed(0)} s; Redis used_memory ${(Number(mem) / 2 ** 20).toFixed(0)} MiB`);
  const a = await measure(small);
  const b = await measure(big);
  console.log(`\nmedian ms                              1k   ${ROWS / 1000}k   ratio`);
  for (const k of Object.keys(a)) console.log(`${k.padEnd(36)}${a[k]!.toFixed(1).padStart(7)}${b[k]!.toFixed(1).padStart(8)}   ${(b[k]! / a[k]!).toFixed(2)}`);
} finally {
  await server.stop();
}
