import type { Config } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import type { PruneOptions, Queue } from "../queue/types.ts";
import { retentionFrom, type Retention } from "../queue/retention-rules.ts";

export interface RetentionPass {
  deleted: number;
  /** Stopped early because the pass used its time budget; the next pass goes on. */
  partial: boolean;
}

/** Small batches keep each lock short; the budget keeps one pass from taking the queue's time. */
const BATCH = 500;
const PASS_BUDGET_MS = 1000;

/** The prune calls a rule asks for, per stage and bucket. */
export function pruneSteps(stages: string[], retention: Retention, now: number): Omit<PruneOptions, "limit">[] {
  const out: Omit<PruneOptions, "limit">[] = [];
  for (const stage of stages) {
    const r = retention.ruleFor(stage);
    for (const [bucket, age, max] of [["finished", r.finishedMs, r.maxFinished], ["failed", r.failedMs, r.maxFailed]] as const) {
      if (age === null && max === null) continue;
      out.push({ stage, bucket, endedBefore: age === null ? undefined : now - age, keepNewest: max ?? undefined });
    }
  }
  return out;
}

/**
 * One pass: every stage with tasks, each bucket, batch after batch until nothing is left to delete or
 * the time budget is spent; yields between batches so claims interleave. Then gives space back.
 */
export async function retentionPass(queue: Queue, retention: Retention, budgetMs = PASS_BUDGET_MS): Promise<RetentionPass> {
  const start = Date.now();
  const stages = Object.keys(await queue.stats());
  let deleted = 0;
  for (const step of pruneSteps(stages, retention, start)) {
    for (;;) {
      if (Date.now() - start > budgetMs) return { deleted, partial: true };
      const n = await queue.prune({ ...step, limit: BATCH });
      deleted += n;
      if (n < BATCH) break;
      await Bun.sleep(1);
    }
  }
  if (deleted) await queue.compact();
  return { deleted, partial: false };
}

/**
 * Apply `retention:` continuously for as long as the worker runs: a pass every `everyMs` (sooner while
 * behind), deletions summed into one info line a minute. Returns the timer for the handler to clear.
 */
export function startRetention(queue: Queue, config: Config, log: Logger, everyMs = 10_000): ReturnType<typeof setInterval> {
  const retention = retentionFrom(config.retention, config.source ?? "config");
  let running = false;
  let sum = 0;
  let lastNote = Date.now();
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      let pass: RetentionPass;
      do pass = await retentionPass(queue, retention);
      while (pass.partial && pass.deleted > 0);
      sum += pass.deleted;
      if (Date.now() - lastNote >= 60_000) {
        if (sum) log.info({ event: "retention", deleted: sum }, `retention: ${sum} ended tasks deleted in the last minute`);
        sum = 0;
        lastNote = Date.now();
      }
    } catch (e) {
      log.warn({ event: "retention_failed", err: (e as Error).message }, `retention pass failed: ${(e as Error).message}`);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), everyMs);
  void tick();
  return timer;
}
