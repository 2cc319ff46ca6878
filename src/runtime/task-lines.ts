import type { Logger } from "../core/logger.ts";

/**
 * Per-task log lines a long-running worker can afford: each task's start and finish at debug, and one
 * info line a minute with how many tasks started, finished and failed per stage. Failures, errors and
 * worker state changes are logged by the handler at their own level, always.
 */
export type TaskLine = "started" | "finished" | "failed";

const EVERY_MS = 60_000;

class Tally {
  private counts = new Map<string, Record<TaskLine, number>>();
  private timer: ReturnType<typeof setInterval>;
  constructor(private log: Logger) {
    this.timer = setInterval(() => this.flush(), EVERY_MS);
    this.timer.unref?.();
  }
  add(kind: TaskLine, stage: string): void {
    let c = this.counts.get(stage);
    if (!c) this.counts.set(stage, (c = { started: 0, finished: 0, failed: 0 }));
    c[kind]++;
  }
  flush(): void {
    if (!this.counts.size) return;
    const stages = Object.fromEntries(this.counts);
    this.counts = new Map();
    const total = Object.values(stages).reduce((s, c) => s + c.finished, 0);
    this.log.info({ event: "tasks_per_minute", stages }, `${total} task${total === 1 ? "" : "s"} finished in the last minute`);
  }
}

const tallies = new WeakMap<Logger, Tally>();

function tally(root: Logger): Tally {
  let t = tallies.get(root);
  if (!t) tallies.set(root, (t = new Tally(root)));
  return t;
}

/** Count a task line for the per-minute summary on `root`, and write it at debug on `log`. */
export function taskLine(log: Logger, root: Logger, kind: TaskLine, stage: string, fields: Record<string, unknown> = {}): void {
  tally(root).add(kind, stage);
  if (kind !== "failed") log.debug({ event: `task_${kind}`, ...fields }, `task ${kind}`);
}

/** Write the summary now (at shutdown, so the last minute is not lost). */
export function flushTaskLines(root: Logger): void {
  tallies.get(root)?.flush();
}
