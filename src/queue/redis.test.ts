import { afterAll } from "bun:test";
import { queueConformance } from "./conformance.ts";
import { RedisQueue } from "./redis.ts";
import { haveRedis, startRedis, type RedisServer } from "./redis-testkit.ts";

// One private redis-server for the file; each backend gets a database of its own, emptied first.
let server: RedisServer | null = null;
let db = 0;
afterAll(async () => {
  await server?.stop();
});

if (!haveRedis) console.warn("queue conformance on redis: skipped (redis-server is not installed; scripts/setup installs it)");
else
  queueConformance("redis", async ({ retryBaseMs }) => {
    server ??= await startRedis();
    const url = server.url(db++ % 64);
    const queue = new RedisQueue(url, { retryBaseMs });
    await queue.connect();
    await (queue as unknown as { redis: { flushdb(): Promise<unknown> } }).redis.flushdb();
    return {
      queue,
      spec: url,
      dispose: async () => {
        await queue.close();
      },
    };
  });
