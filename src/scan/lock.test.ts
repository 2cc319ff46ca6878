import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openQueue } from "../queue/open.ts";
import { haveRedis, startRedis, type RedisServer } from "../queue/redis-testkit.ts";
import type { Queue } from "../queue/types.ts";
import { targetLockKey, withLock } from "./lock.ts";

let home: string;
let redis: RedisServer | null = null;
beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "falc-scan-lock-"));
  if (haveRedis) redis = await startRedis();
  else console.warn("scan target lock on redis: skipped (redis-server is not installed; scripts/setup installs it)");
});
afterAll(async () => {
  await redis?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe.each(["sqlite", "redis"])("scan target lock on the %s queue", (kind) => {
  test("the same (target, ports) is never scanned twice at once; other ports may be", async () => {
    if (kind === "redis" && !redis) return;
    const q: Queue = await openQueue(kind === "sqlite" ? "sqlite" : redis!.url(0), { home, defaultMaxAttempts: 1 });
    try {
      const key = targetLockKey("10.0.0.1", `T:1-1000-${kind}`);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const first = withLock(q, key, "a", 2000, () => held);
      await Bun.sleep(50);
      await expect(withLock(q, key, "b", 2000, async () => 1)).rejects.toThrow(/10.0.0.1:T:1-1000.* is being scanned by someone else/);
      expect(await withLock(q, targetLockKey("10.0.0.1", `T:22-${kind}`), "b", 2000, async () => 2)).toBe(2);
      release();
      await first;
      expect(await withLock(q, key, "b", 2000, async () => 3)).toBe(3);
    } finally {
      await q.close();
    }
  }, 20_000);
});
