import { z } from "zod";
import { configError, usageError } from "../core/errors.ts";

/**
 * How long ended tasks are kept, from `retention:` in falc.yaml:
 *
 *   retention:
 *     finished: 7d          # finished tasks older than this are deleted ("forever" keeps them)
 *     failed: 30d           # failed and cancelled tasks (they are what an operator looks into)
 *     max_finished: 100000  # and at most this many finished tasks per stage, the newest kept
 *     max_failed: 100000    # the same for failed + cancelled
 *     stages:
 *       scan: { finished: 90d }
 *
 * Queued and running tasks are never deleted.
 */
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "7d", "12h", "30m", "90s", "500ms", "2w" → milliseconds; null for "forever". */
export function parseDuration(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === "forever" || t === "never") return null;
  const m = DURATION.exec(t);
  if (!m) throw usageError(`invalid duration \`${text}\`: use a number and a unit (ms, s, m, h, d, w), e.g. 7d or 12h`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

const duration = z.union([z.string(), z.number().nonnegative()]).transform((v, ctx) => {
  if (typeof v === "number") return v * 1000; // a bare number is seconds
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});
const count = z.union([z.number().int().min(0), z.literal("unlimited")]).transform((v) => (v === "unlimited" ? null : v));

const ruleSchema = z
  .object({ finished: duration.optional(), failed: duration.optional(), max_finished: count.optional(), max_failed: count.optional() })
  .strict();

export const retentionSchema = ruleSchema.extend({ stages: z.record(z.string(), ruleSchema).default({}) }).strict();

export interface RetentionRule {
  /** Finished tasks older than this many ms (by finishedAt) go; null keeps them. */
  finishedMs: number | null;
  /** Failed and cancelled tasks older than this go; null keeps them. */
  failedMs: number | null;
  /** At most this many finished tasks per stage (newest kept); null: no limit. */
  maxFinished: number | null;
  maxFailed: number | null;
}

export const DEFAULT_RETENTION: RetentionRule = {
  finishedMs: 7 * 86_400_000,
  failedMs: 30 * 86_400_000,
  maxFinished: 100_000,
  maxFailed: 100_000,
};

export interface Retention {
  ruleFor(stage: string): RetentionRule;
}

type RawRule = z.infer<typeof ruleSchema>;

function apply(base: RetentionRule, r: RawRule): RetentionRule {
  return {
    finishedMs: r.finished !== undefined ? r.finished : base.finishedMs,
    failedMs: r.failed !== undefined ? r.failed : base.failedMs,
    maxFinished: r.max_finished !== undefined ? r.max_finished : base.maxFinished,
    maxFailed: r.max_failed !== undefined ? r.max_failed : base.maxFailed,
  };
}

/** The `retention:` section (already parsed YAML, or undefined) → rules per stage; errors name the key. */
export function retentionFrom(raw: unknown, source = "config"): Retention {
  const parsed = retentionSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = ["retention", ...issue.path.map(String)].join(".");
    throw configError(`${source}: key \`${key}\`: ${issue.message}`);
  }
  const all = apply(DEFAULT_RETENTION, parsed.data);
  const per = new Map(Object.entries(parsed.data.stages).map(([s, r]) => [s, apply(all, r)]));
  return { ruleFor: (stage) => per.get(stage) ?? all };
}

/** One bucket of ended tasks a prune pass works on: BullMQ keeps exactly these two sets per stage. */
export type PruneBucket = "finished" | "failed";

/** The statuses in a bucket: cancelled tasks are kept like failed ones (both sit in BullMQ's failed set). */
export const BUCKET_STATUSES: Record<PruneBucket, ("finished" | "failed" | "cancelled")[]> = {
  finished: ["finished"],
  failed: ["failed", "cancelled"],
};
