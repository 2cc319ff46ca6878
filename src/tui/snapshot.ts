import type { Queue } from "../queue/types.ts";
import { TuiStore } from "./store.ts";
import type { SyncNode } from "./views/sync.tsx";

/** What the TUI would show, once, as plain data: `falc ui --json` for scripts and tests. */
export async function tuiSnapshot(
  queue: Queue,
  sync?: () => Promise<SyncNode[] | null>,
): Promise<Record<string, unknown>> {
  const store = new TuiStore(queue, { windowSize: 50 });
  await store.loadAll();
  store.stop();
  const s = store.snapshot;
  if (s.error) throw new Error(s.error);
  return {
    at: s.now,
    workers: s.workers,
    queues: s.stages,
    tasks: s.tasks.map((t) => ({
      id: t.id,
      stage: t.stage,
      status: t.status,
      attempts: t.attempts,
      worker: t.worker,
    })),
    scans: s.scans,
    sync: sync ? await sync() : null,
  };
}
