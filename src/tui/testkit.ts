import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WorkerRecord } from "../core/worker-state.ts";
import { SqliteQueue } from "../queue/sqlite.ts";

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
