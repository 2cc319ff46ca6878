import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WorkerRecord } from "../../src/core/worker-state.ts";
import { SqliteQueue } from "../../src/queue/sqlite.ts";
import { openQueue } from "../../src/queue/open.ts";
import { haveRedis, startRedis } from "../redis-server.ts";
import type { Queue } from "../../src/queue/types.ts";

export interface TestQueue {
  queue: Queue;
  dispose(): Promise<void>;
}

/** A real SQLite queue in a temp dir for TUI tests. */
export function tempQueue(): { queue: SqliteQueue; dispose(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), "falc-tui-"));
  const queue = new SqliteQueue(join(dir, "queue.sqlite"), { retryBaseMs: 10 });
  return {
    queue,
    dispose: async () => {
      try {
        await queue.close();
      } catch {
        // Already closed by the test.
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export function workerRec(
  p: Partial<WorkerRecord> & { name: string; stage: string },
): WorkerRecord {
  return {
    kind: "child",
    host: "lab1",
    pid: 4242,
    state: "idle",
    taskId: null,
    since: Date.now() - 5000,
    heartbeatAt: Date.now(),
    restarts: 0,
    handler: null,
    error: null,
    ...p,
  };
}

/** Poll until `fn` holds (tests drive real timers, so waits are short and bounded). */
export async function until(
  fn: () => boolean | undefined,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/**
 * A private redis-server on a free loopback port, and queues on it (one database each, emptied first).
 * Without redis-server this throws, so the tests that use it fail instead of vanishing (scripts/setup installs it).
 */
export async function redisQueues(): Promise<{ make(): Promise<TestQueue>; stop(): Promise<void> }> {
  if (!haveRedis) throw new Error("redis-server is not installed: run scripts/setup (the TUI tests run on Redis too)");
  const server = await startRedis();
  let db = 0;
  const make = async (): Promise<TestQueue> => {
    const home = mkdtempSync(join(tmpdir(), "falc-tui-rh-"));
    let queue: Queue;
    try {
      queue = await openQueue(server.url(++db % 64), { home, retryBaseMs: 10 });
      await (queue as unknown as { redis: { flushdb(): Promise<unknown> } }).redis.flushdb();
    } catch (e) {
      rmSync(home, { recursive: true, force: true });
      throw e;
    }
    return {
      queue,
      dispose: async () => {
        await queue.close().catch(() => {});
        rmSync(home, { recursive: true, force: true });
      },
    };
  };
  return { make, stop: () => server.stop() };
}
