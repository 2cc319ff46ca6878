import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { Queue as BullQueue } from "bullmq";
import Redis from "ioredis";
import pino from "pino";
import type { Logger } from "../core/logger.ts";
import { queueConformance } from "./conformance.ts";
import { retentionConformance } from "./retention-conformance.ts";
import { openQueue } from "./open.ts";
import { RedisQueue } from "./redis.ts";
import { parseRedisUrl } from "./redis-url.ts";
import { freePort, haveRedis, startRedis, type RedisServer } from "../../test/redis-server.ts";

// One private redis-server for the file; each queue gets a database of its own, emptied first.
let server: RedisServer | null = null;
let db = 0;
const servers: RedisServer[] = [];
afterAll(async () => {
  await server?.stop();
  for (const s of servers) await s.stop();
});

async function fresh(opts: ConstructorParameters<typeof RedisQueue>[1] = {}): Promise<{ queue: RedisQueue; url: string }> {
  server ??= await startRedis();
  const url = server.url(db++ % 64);
  const queue = new RedisQueue(url, opts);
  await queue.connect();
  await (queue as unknown as { redis: { flushdb(): Promise<unknown> } }).redis.flushdb();
  return { queue, url };
}

/** A real pino logger whose JSON lines are kept for the test to read. */
function captureLog(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log = pino({ level: "info", base: undefined }, { write: (s: string) => void out.push(s) });
  return { log, lines: () => out.map((l) => JSON.parse(l)) };
}

if (!haveRedis) throw new Error("redis-server is not installed (scripts/setup installs it): the Redis queue tests cannot run");
else {
  const redisBackend = async ({ retryBaseMs }: { retryBaseMs: number }) => {
    const { queue, url } = await fresh({ retryBaseMs });
    return { queue, spec: url, dispose: () => queue.close() };
  };
  queueConformance("redis", redisBackend);
  retentionConformance("redis", redisBackend);

  describe("redis backend specifics", () => {
    const open: { close(): Promise<unknown> }[] = [];
    afterEach(async () => {
      while (open.length) await open.pop()!.close();
    });

    test("a queue written before the id index gets it once, at the first search", async () => {
      const { queue: q, url } = await fresh();
      open.push(q);
      const ts = await q.enqueueMany(Array.from({ length: 4500 }, (_, i) => ({ stage: "s", payload: i, id: `old-${String(i).padStart(4, "0")}` })));
      const raw = new Redis(url);
      open.push({ close: async () => raw.disconnect() });
      // As an older falc left it: no falc:_ids at all.
      await raw.del("falc:_ids", "falc:_ids_ok");
      const p = await q.page({ text: "old-44", limit: 1000 });
      expect(p.tasks.map((t) => t.id)).toEqual(ts.slice(4400).map((t) => t.id).reverse());
      expect(await raw.zcard("falc:_ids")).toBe(4500);
      expect(await raw.get("falc:_ids_ok")).toBe("1");
    });

    test("BullMQ's own Queue API (what Bull Board reads) sees each stage as queue falc:<stage>", async () => {
      const { queue: q, url } = await fresh({ retryBaseMs: 60_000 });
      open.push(q);
      const [a, b, c, d, e] = await q.enqueueMany([
        { stage: "pre", payload: { n: 1 } },
        { stage: "pre", payload: { n: 2 }, priority: 5 },
        { stage: "pre", payload: { n: 3 } },
        { stage: "pre", payload: { n: 4 } },
        { stage: "pre", payload: { n: 5 } },
      ]);
      await q.enqueue({ stage: "pre", payload: { n: 6 }, delayMs: 60_000 });
      const run = (await q.claim({ stages: ["pre"], worker: "w1", leaseMs: 60_000 }))!;
      expect(run.id).toBe(b!.id);
      await q.start(run.id, "w1");
      await q.progress(run.id, "w1", 0.4, "x");
      const done = (await q.claim({ stages: ["pre"], worker: "w1", leaseMs: 60_000 }))!;
      await q.complete(done.id, "w1", { ok: 1 });
      const bad = (await q.claim({ stages: ["pre"], worker: "w1", leaseMs: 60_000 }))!;
      await q.fail(bad.id, "w1", { message: "broken sample", stack: "Error: broken sample\n  at x" }, { retry: false });
      await q.cancel(e!.id);

      const bull = new BullQueue("pre", { prefix: "falc", connection: parseRedisUrl(url) });
      open.push(bull);
      expect(bull.qualifiedName).toBe("falc:pre");
      expect(await bull.getJobCounts()).toEqual({ active: 1, completed: 1, delayed: 1, failed: 2, prioritized: 1, waiting: 0, "waiting-children": 0 });
      expect((await bull.getJobs(["prioritized"])).map((j) => j.id)).toEqual([d!.id]);
      const running = (await bull.getJob(run.id))!;
      expect(running.name).toBe("pre");
      expect(running.data).toEqual({ n: 2 });
      expect(running.progress).toBe(40);
      expect(running.attemptsMade).toBe(1);
      expect(await running.getState()).toBe("active");
      const fin = (await bull.getJob(done.id))!;
      expect(fin.returnvalue).toEqual({ ok: 1 });
      expect(fin.finishedOn).toBeGreaterThan(0);
      expect(await fin.getState()).toBe("completed");
      const failed = (await bull.getJob(bad.id))!;
      expect(failed.failedReason).toBe("broken sample");
      expect(failed.stacktrace).toEqual(["Error: broken sample\n  at x"]);
      expect(await failed.getState()).toBe("failed");
      expect((await bull.getJob(e!.id))!.failedReason).toBe("cancelled");
      expect([a!.id, c!.id]).toContain(done.id);
    });

    test("bad URLs are one usage line; reserved ids and bad stage names are refused", async () => {
      for (const [spec, why] of [
        ["redis://", /no host/],
        ["redis://h:99999/0", /port must be 1-65535/],
        ["redis://h:/0", /empty port/],
        ["redis://h:6379/zero", /database .* must be a number/],
        ["redis://h:6379/0?x=1", /no query/],
        ["redis:h", /no host/],
      ] as const) {
        const e = await openQueue(spec, { home: "/nonexistent" }).catch((x) => x);
        expect(e.code, spec).toBe("usage");
        expect(e.message).toMatch(why);
        expect(e.message).not.toContain("\n");
      }
      expect(parseRedisUrl("redis://u:s3cret@h:1/2").display).toBe("redis://u:***@h:1/2");
      expect(parseRedisUrl("redis://[::1]:7000").display).toBe("redis://[::1]:7000/0");
      const { queue: q } = await fresh();
      open.push(q);
      await expect(q.enqueue({ stage: "pre", payload: 1, id: "meta" })).rejects.toThrow(/reserved/);
      await expect(q.enqueue({ stage: "Bad:Stage", payload: 1 })).rejects.toThrow(/invalid stage name/);
    });

    test("unreachable at start: a CLI gets one clear error; a worker waits, says so once, and goes on when Redis comes up", async () => {
      const port = await freePort();
      const t0 = Date.now();
      const e = await openQueue(`redis://127.0.0.1:${port}/0`, { home: "/nonexistent", connectTimeoutMs: 500 }).catch((x) => x);
      expect(e.code).toBe("unavailable");
      expect(e.message).toMatch(new RegExp(`cannot reach the Redis queue at redis://127.0.0.1:${port}/0: .*ECONNREFUSED`));
      expect(Date.now() - t0).toBeLessThan(5000);

      const { log, lines } = captureLog();
      let opened: RedisQueue | null = null;
      const waiting = openQueue(`redis://127.0.0.1:${port}/0`, { home: "/nonexistent", persistent: true, log }).then((q) => (opened = q as RedisQueue));
      await Bun.sleep(1500);
      expect(opened).toBeNull();
      const late = await startRedis({ port });
      servers.push(late);
      const q = await waiting;
      open.push(q);
      expect((await q.enqueue({ stage: "pre", payload: 1 })).status).toBe("queued");
      const events = lines().map((l) => l.event);
      expect(events.filter((x) => x === "queue_unreachable")).toHaveLength(1);
      expect(events).toContain("queue_reachable");
      expect(String(lines()[0]!.msg)).toMatch(/unreachable \(.*ECONNREFUSED.*\); retrying with backoff/);
    }, 20_000);

    test("Redis killed and restarted with its data: a persistent queue's calls wait, then go through once", async () => {
      const s = await startRedis({ persist: true });
      servers.push(s);
      const { log, lines } = captureLog();
      const q = new RedisQueue(s.url(), { persistent: true, log });
      open.push(q);
      await q.connect();
      const ts = await q.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ stage: "pre", payload: i })));
      const held = (await q.claim({ stages: ["pre"], worker: "w", leaseMs: 60_000 }))!;
      await s.kill();
      // Issued while Redis is down: they wait for the reconnect instead of failing.
      const pending = Promise.all([q.complete(held.id, "w", { done: true }), q.claim({ stages: ["pre"], worker: "w", leaseMs: 60_000 })]);
      await Bun.sleep(800);
      await s.restart();
      const [ok, next] = await pending;
      expect(ok).toBe(true);
      expect(next?.id).toBe(ts[1]!.id);
      const st = (await q.stats()).pre!;
      expect([st.finished, st.requested, st.queued]).toEqual([1, 1, 18]);
      expect((await q.get(held.id))?.result).toEqual({ done: true });
      const ev = lines().map((l) => l.event);
      expect(ev).toContain("queue_unreachable");
      expect(ev).toContain("queue_reachable");
    }, 30_000);

    test("an enqueue resent after a lost answer does not queue twice", async () => {
      const { queue: q } = await fresh();
      open.push(q);
      const r = (q as unknown as { redis: Record<string, (...a: unknown[]) => Promise<string[]>> }).redis;
      const args = [1, "nonce-1", "tid-1", "pre", "{}", 0, "", 0, 3, "", ""];
      expect((await r.falcEnqueue!(...args))[0]).toBe("ok");
      expect((await r.falcEnqueue!(...args))[0]).toBe("again");
      expect((await q.stats()).pre?.queued).toBe(1);
      expect((await q.events(0)).length).toBe(2);
      expect((await r.falcEnqueue!(1, "nonce-2", "tid-1", "pre", "{}", 0, "", 0, 3, "", ""))[0]).toBe("exists");
    });

    test("a cancel is pushed to every watcher at once, from any connection", async () => {
      const { queue: q, url } = await fresh();
      open.push(q);
      const other = (await openQueue(url, { home: "/nonexistent" })) as RedisQueue;
      open.push(other);
      const seen: string[] = [];
      const unwatch = q.watchCancels((id) => seen.push(id));
      await Bun.sleep(100);
      const t = await q.enqueue({ stage: "pre", payload: 1 });
      const queued = await q.enqueue({ stage: "pre", payload: 2 });
      await q.claim({ stages: ["pre"], worker: "w", leaseMs: 60_000 });
      await other.cancel(queued.id);
      await other.cancel(t.id);
      const end = Date.now() + 3000;
      while (!seen.length && Date.now() < end) await Bun.sleep(10);
      // Only running tasks are pushed: a queued one just never runs.
      expect(seen).toEqual([t.id]);
      unwatch();
    });
  });
}
