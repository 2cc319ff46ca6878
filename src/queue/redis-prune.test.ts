import { afterAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { RedisQueue } from "./redis.ts";
import { startRedis, type RedisServer } from "../../test/redis-server.ts";

// No skip: without redis-server, startRedis throws and this test fails (scripts/setup installs it).
let server: RedisServer | null = null;
afterAll(async () => {
  await server?.stop();
});

/** Every place in Redis that names `id`: key names, hash fields and values, set and list members, stream entries. */
async function mentions(r: Redis, id: string): Promise<string[]> {
  const out: string[] = [];
  for (const key of await r.keys("*")) {
    if (key.includes(id)) out.push(`key ${key}`);
    const type = await r.type(key);
    const items: string[] =
      type === "hash" ? await r.hgetall(key).then((h) => Object.entries(h).flat())
      : type === "zset" ? await r.zrange(key, "0", "-1")
      : type === "set" ? await r.smembers(key)
      : type === "list" ? await r.lrange(key, 0, -1)
      : type === "string" ? [(await r.get(key)) ?? ""]
      : [];
    if (type !== "stream" && items.some((v) => v.includes(id))) out.push(`${type} ${key}`);
  }
  return out;
}

test("a pruned task leaves no trace in Redis but the event log (hash, id map, indexes, BullMQ sets, children)", async () => {
  server = await startRedis();
  const q = new RedisQueue(server.url(0));
  await q.connect();
  const raw = new Redis(server.url(0));
  try {
    const parent = await q.enqueue({ stage: "p", payload: 1 });
    const kid = await q.enqueue({ stage: "k", payload: 2, parentId: parent.id, maxAttempts: 1 });
    const kid2 = await q.enqueue({ stage: "k", payload: 3, parentId: parent.id });
    for (const [stage, end] of [["p", "ok"], ["k", "fail"]] as const) {
      const t = (await q.claim({ stages: [stage], worker: "w", leaseMs: 60_000 }))!;
      if (end === "ok") await q.complete(t.id, "w", { r: 1 });
      else await q.fail(t.id, "w", { message: "x" });
    }
    await q.cancel(kid2.id);
    expect((await mentions(raw, kid.id)).length).toBeGreaterThan(0);
    const future = Date.now() + 60_000;
    expect(await q.prune({ stage: "p", bucket: "finished", endedBefore: future, limit: 10 })).toBe(1);
    expect(await q.prune({ stage: "k", bucket: "failed", endedBefore: future, limit: 10 })).toBe(2);
    for (const id of [parent.id, kid.id, kid2.id]) expect(await mentions(raw, id)).toEqual([]);
    expect(await q.stats()).toEqual({});
  } finally {
    raw.disconnect();
    await q.close();
  }
});
