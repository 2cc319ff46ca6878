import type { TaskEvent } from "../core/task.ts";

/** Follow a backend's event log from `since`, in order, without overlapping reads. */
export function pollEvents(
  src: { events(since: number, limit?: number): Promise<TaskEvent[]> },
  listener: (e: TaskEvent) => void,
  since: number,
  intervalMs: number,
): () => void {
  let cursor = since;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const tick = async () => {
    if (stopped) return;
    try {
      for (;;) {
        const batch = await src.events(cursor, 1000);
        for (const e of batch) {
          cursor = e.seq;
          if (!stopped) listener(e);
        }
        if (batch.length < 1000) break;
      }
    } catch {
      // A closed or busy backend: try again at the next tick.
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  timer = setTimeout(tick, 0);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
