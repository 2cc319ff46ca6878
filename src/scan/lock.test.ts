import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openQueue } from "../queue/open.ts";
import { startRedis, type RedisServer } from "../../test/redis-server.ts";
import type { Queue } from "../queue/types.ts";
import { targetLockKey, withLock } from "./lock.ts";

let home: string;
let redis: RedisServer;
beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "falc-scan-lock-"));
  // scripts/setup installs redis-server: without it this fails, it is not skipped.
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  rmSync(home, { recursive: true, force: true });
});

const open = (kind: string, db: number): Promise<Queue> => openQueue(kind === "sqlite" ? "sqlite" : redis.url(db), { home: join(home, `${kind}${db}`), defaultMaxAttempts: 1 });

describe.each(["sqlite", "redis"])("scan target lock on the %s queue", (kind) => {
  test("one target is never scanned twice at once, whatever the ports; another target may be", async () => {
    const q = await open(kind, 0);
    try {
      const key = targetLockKey(`10.0.0.1`);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      const first = withLock(q, key, "a", 2000, {}, () => (entered(), held));
      await inside;
      await expect(withLock(q, key, "b", 2000, {}, async () => 1)).rejects.toThrow(/10\.0\.0\.1 is being scanned by someone else/);
      expect(await withLock(q, targetLockKey("10.0.0.2"), "b", 2000, {}, async () => 2)).toBe(2);
      release();
      await first;
      expect(await withLock(q, key, "b", 2000, {}, async () => 3)).toBe(3);
      // A queued task waits for the holder instead of failing.
      let free!: () => void;
      let holding!: () => void;
      const held2 = new Promise<void>((r) => (holding = r));
      const busy = withLock(q, key, "c", 2000, {}, () => new Promise<void>((r) => ((free = r), holding())));
      await held2;
      const waiter = withLock(q, key, "d", 2000, { wait: new AbortController().signal }, async () => "after");
      free();
      await busy;
      expect(await waiter).toBe("after");
    } finally {
      await q.close();
    }
  }, 20_000);

  test("a failed renewal aborts the work's signal (another may hold the target now)", async () => {
    const q = await open(kind, 1);
    try {
      const key = targetLockKey("10.0.0.3");
      const reason = await withLock(q, key, "a", 900, {}, async (lost) => {
        // Someone else takes the lock (as after an expiry): the next renewal must fail.
        await q.releaseLock(key, "a");
        expect(await q.acquireLock(key, "b", 60_000)).toBe(true);
        return await new Promise<unknown>((res) => lost!.addEventListener("abort", () => res(lost!.reason), { once: true }));
      });
      expect(String((reason as Error).message)).toMatch(/lost the lock on 10\.0\.0\.3/);
    } finally {
      await q.close();
    }
  }, 20_000);

  test("a renewal that errs while the lock still holds does not stop the work; errors until it runs out do", async () => {
    const q = await open(kind, 2);
    try {
      // The fault model's transient queue error (a Redis restart, a busy file): renewLock throws n times.
      let fail = 0;
      const flaky = new Proxy(q, {
        get: (t, p) => (p === "renewLock" ? (...a: Parameters<Queue["renewLock"]>) => (fail-- > 0 ? Promise.reject(new Error("Connection is closed")) : t.renewLock(...a)) : Reflect.get(t, p)),
      });
      // One error among renewals every 300 ms of a 900 ms lock: the work ends on its own.
      fail = 1;
      const done = await withLock(flaky, targetLockKey("10.0.0.4"), "a", 900, {}, async (lost) => {
        await Bun.sleep(1500);
        return lost!.aborted ? "aborted" : "finished";
      });
      expect(done).toBe("finished");
      // Errors for longer than the lock lives: stopped, with the queue's error in the reason.
      fail = 1000;
      const reason = await withLock(flaky, targetLockKey("10.0.0.5"), "a", 900, {}, async (lost) =>
        new Promise<unknown>((res) => lost!.addEventListener("abort", () => res(lost!.reason), { once: true })),
      );
      expect(String((reason as Error).message)).toMatch(/lost the lock on 10\.0\.0\.5 \(renewal failed: Connection is closed\)/);
    } finally {
      await q.close();
    }
  }, 20_000);
});
