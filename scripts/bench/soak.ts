// Soak (issue 19, not CI): constant load for a while, retention on, and the store's size sampled over time.
// A producer enqueues --rate tasks/s, one consumer runs the worker's loop (claim, completeAndClaim), and the
// worker's retention pass runs every 10 s with short rules (finished kept --keep-s seconds, at most
// --max per stage) so the level shows within minutes. The same load without retention is the baseline.
// Prints one row per sample: elapsed s, tasks kept, SQLite file+WAL MB (or Redis used_memory MB), tasks/s.
// Usage: bun scripts/bench/soak.ts [--seconds 180] [--rate 1000] [--keep-s 30] [--max 20000] [--backend sqlite|redis|both] [--baseline 1]
import { mkdtempSync, rmSync, statSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteQueue } from "../../src/queue/sqlite.ts";
import type { Queue } from "../../src/queue/types.ts";
import { startRetention } from "../../src/runtime/retention.ts";
import type { Config } from "../../src/core/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { numArg } from "./args.ts";

const SECONDS = numArg("--seconds", 180);
const RATE = numArg("--rate", 1000);
const KEEP_S = numArg("--keep-s", 30);
const MAX = numArg("--max", 20_000);
const BASELINE = numArg("--baseline", 1) > 0;
const SAMPLE_S = Math.max(5, Math.round(SECONDS / 12));
const backendArg = process.argv.includes("--backend") ? process.argv[process.argv.indexOf("--backend") + 1]! : "both";

async function soak(label: string, q: Queue, size: () => Promise<number>, retention: boolean): Promise<void> {
  // The worker's own retention loop (src/runtime/retention.ts), with short rules.
  const config = { retention: { finished: `${KEEP_S}s`, max_finished: MAX, failed: `${KEEP_S}s`, max_failed: MAX }, source: null } as unknown as Config;
  const retentionTimer = retention ? startRetention(q, config, silentLogger, 5000) : null;
  const end = Date.now() + SECONDS * 1000;
  let done = 0;
  let stop = false;
  const producer = (async () => {
    let n = 0;
    const t0 = Date.now();
    while (!stop) {
      const due = Math.floor(((Date.now() - t0) / 1000) * RATE) - n;
      if (due > 0) {
        await q.enqueueMany(Array.from({ length: due }, (_, i) => ({ stage: "soak", payload: { n: n + i, pad: "x".repeat(100) } })));
        n += due;
      }
      await Bun.sleep(50);
    }
  })();
  const consumer = (async () => {
    const o = { stages: ["soak"], worker: "w", leaseMs: 60_000 };
    while (!stop) {
      let t = await q.claim(o);
      if (!t) {
        await Bun.sleep(20);
        continue;
      }
      while (t && !stop) {
        const r = await q.completeAndClaim(t.id, "w", { ok: true }, o);
        if (r.completed) done++;
        t = r.next;
        // Let the producer and the sweeps in: they share this process, as a worker's handler does.
        if (done % 200 === 0) await Bun.sleep(0);
      }
    }
  })();
  const sweeps = (async () => {
    while (!stop) {
      await q.reapExpired();
      await Bun.sleep(5000);
    }
  })();
  console.log(`\n${label}: ${retention ? `retention finished ${KEEP_S}s, max ${MAX}` : "no retention (baseline)"}; load ${RATE} tasks/s for ${SECONDS} s`);
  console.log("   s      kept       MB   tasks/s");
  const t0 = Date.now();
  let last = 0;
  let lastT = t0;
  while (Date.now() < end) {
    await Bun.sleep(SAMPLE_S * 1000);
    const stats = await q.stats();
    const kept = Object.values(stats).reduce((s, x) => s + Object.values(x).reduce((a, b) => a + b, 0), 0);
    const now = Date.now();
    const rate = ((done - last) * 1000) / (now - lastT);
    last = done;
    lastT = now;
    console.log(`${String(Math.round((now - t0) / 1000)).padStart(4)} ${String(kept).padStart(9)} ${(await size() / 1e6).toFixed(1).padStart(8)} ${rate.toFixed(0).padStart(9)}`);
  }
  stop = true;
  if (retentionTimer) clearInterval(retentionTimer);
  await Promise.all([producer, consumer, sweeps]);
}

async function sqlite(retention: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "falc-soak-"));
  const path = join(dir, "q.sqlite");
  const q = new SqliteQueue(path, { keepEvents: 20_000 });
  const size = async () => [path, `${path}-wal`].reduce((s, p) => s + (existsSync(p) ? statSync(p).size : 0), 0);
  try {
    await soak("sqlite", q, size, retention);
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function redis(retention: boolean): Promise<void> {
  const { startRedis } = await import("../../test/redis-server.ts");
  const { RedisQueue } = await import("../../src/queue/redis.ts");
  const Redis = (await import("ioredis")).default;
  const srv = await startRedis();
  const q = new RedisQueue(srv.url(), { keepEvents: 20_000 });
  const raw = new Redis(srv.url());
  const size = async () => Number(/used_memory:(\d+)/.exec(await raw.info("memory"))![1]);
  try {
    await q.connect();
    await soak("redis", q, size, retention);
  } finally {
    raw.disconnect();
    await q.close();
    await srv.stop();
  }
}

for (const b of backendArg === "both" ? ["sqlite", "redis"] : [backendArg]) {
  if (BASELINE) await (b === "sqlite" ? sqlite(false) : redis(false));
  await (b === "sqlite" ? sqlite(true) : redis(true));
}
