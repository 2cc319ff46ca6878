import { usageError } from "../core/errors.ts";
import { parseDuration, type PruneBucket, type Retention } from "./retention-rules.ts";
import type { PruneOptions, Queue } from "./types.ts";
import { pruneSteps } from "../runtime/retention.ts";

export interface PruneRequest {
  /** "7d" etc.: delete what ended before now minus this; absent: the configured retention. */
  olderThan?: string;
  /** Buckets to prune with olderThan (default finished). */
  statuses?: string[];
  stage?: string;
  /** Keep at most this many per stage and bucket (with olderThan). */
  keep?: number;
}

export interface PruneReport {
  deleted: number;
  byStage: Record<string, Partial<Record<PruneBucket, number>>>;
}

/** What an operator's `falc tasks prune` asks for, as prune steps; configured rules when no age is given. */
export function pruneRequestSteps(req: PruneRequest, stages: string[], retention: Retention, now: number): Omit<PruneOptions, "limit">[] {
  const pick = req.stage ? stages.filter((s) => s === req.stage) : stages;
  if (req.olderThan === undefined && req.keep === undefined) {
    const steps = pruneSteps(pick, retention, now);
    return req.statuses ? steps.filter((s) => req.statuses!.includes(s.bucket)) : steps;
  }
  const age = req.olderThan === undefined ? null : parseDuration(req.olderThan);
  const buckets = (req.statuses ?? ["finished"]).map((s) => {
    if (s !== "finished" && s !== "failed") throw usageError(`--status must be finished or failed (failed includes cancelled), got \`${s}\``);
    return s as PruneBucket;
  });
  return pick.flatMap((stage) => buckets.map((bucket) => ({ stage, bucket, endedBefore: age === null ? undefined : now - age, keepNewest: req.keep })));
}

/** Run the steps to the end, in batches of 500 (each a short lock), then give the space back. */
export async function pruneNow(queue: Queue, steps: Omit<PruneOptions, "limit">[]): Promise<PruneReport> {
  const report: PruneReport = { deleted: 0, byStage: {} };
  for (const step of steps) {
    let n: number;
    do {
      n = await queue.prune({ ...step, limit: 500 });
      report.deleted += n;
      const s = (report.byStage[step.stage] ??= {});
      s[step.bucket] = (s[step.bucket] ?? 0) + n;
      await Bun.sleep(0);
    } while (n === 500);
  }
  await queue.compact();
  return report;
}
