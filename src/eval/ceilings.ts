import { z } from "zod";
import { inputError } from "../core/errors.ts";
import type { LimitsInput } from "./limits.ts";
import type { EvalPayload } from "./payload.ts";

/**
 * The operator's ceilings (`eval.max_limits`): what a task, an API client or a flag may ask for at
 * most. `eval.limits` are only the defaults under them. Units as in `eval.limits`.
 */
export const DEFAULT_MAX_LIMITS = { timeout: 60, cpu: 60, memory: 1024, pids: 256, output_kb: 16384, file_mb: 256, disk_mb: 512, stdin_kb: 16384 } as const;
export type MaxLimits = { -readonly [K in keyof typeof DEFAULT_MAX_LIMITS]: number };

export const maxLimitsSchema = z
  .object({
    timeout: z.number().positive().max(3600).default(DEFAULT_MAX_LIMITS.timeout),
    cpu: z.number().positive().max(3600).default(DEFAULT_MAX_LIMITS.cpu),
    memory: z.number().int().min(16).max(65536).default(DEFAULT_MAX_LIMITS.memory),
    pids: z.number().int().min(1).max(4096).default(DEFAULT_MAX_LIMITS.pids),
    output_kb: z.number().int().min(1).max(1024 * 1024).default(DEFAULT_MAX_LIMITS.output_kb),
    file_mb: z.number().int().min(1).max(65536).default(DEFAULT_MAX_LIMITS.file_mb),
    disk_mb: z.number().int().min(1).max(65536).default(DEFAULT_MAX_LIMITS.disk_mb),
    /** Largest stdin a task may carry. */
    stdin_kb: z.number().int().min(1).max(1024 * 1024).default(DEFAULT_MAX_LIMITS.stdin_kb),
  })
  .strict();

/** What to do with a CLI flag or queued task over a ceiling (the HTTP service always refuses). */
export const overMaxSchema = z.enum(["refuse", "clamp"]);
export type OverMax = z.infer<typeof overMaxSchema>;

export interface Violation {
  /** The field as the request named it: `timeout`, `memory` or `limits.<key>`. */
  field: string;
  key: keyof MaxLimits;
  value: number;
  max: number;
}

export const violationText = (v: Violation) => `${v.field}: ${v.value} is over the operator's maximum ${v.max} (eval.max_limits.${v.key})`;

/** Every value in the payload above its ceiling. stdin is measured in bytes against stdin_kb. */
export function overCeilings(p: Pick<EvalPayload, "timeout" | "memory" | "limits">, max: MaxLimits, stdinBytes = 0): Violation[] {
  const out: Violation[] = [];
  const check = (field: string, key: keyof MaxLimits, value: number | undefined) => {
    if (value !== undefined && value > max[key]) out.push({ field, key, value, max: max[key] });
  };
  check("timeout", "timeout", p.timeout);
  check("memory", "memory", p.memory);
  for (const [k, v] of Object.entries(p.limits ?? {}) as [keyof LimitsInput, number | undefined][]) check(`limits.${k}`, k, v);
  if (stdinBytes > max.stdin_kb * 1024) out.push({ field: "stdin", key: "stdin_kb", value: Math.ceil(stdinBytes / 1024), max: max.stdin_kb });
  return out;
}

/**
 * Apply the ceilings to a payload: refuse (an input error naming the first field and its maximum)
 * or clamp each value to its ceiling. stdin over its ceiling is always refused (cutting it would
 * change the program's input). Returns the payload to run and what was clamped.
 */
export function applyCeilings<P extends Pick<EvalPayload, "timeout" | "memory" | "limits">>(p: P, max: MaxLimits, mode: OverMax, stdinBytes = 0): { payload: P; clamped: Violation[] } {
  const over = overCeilings(p, max, stdinBytes);
  if (!over.length) return { payload: p, clamped: [] };
  const stdin = over.find((v) => v.key === "stdin_kb");
  if (mode === "refuse" || stdin) throw inputError(violationText(stdin ?? over[0]!), { violations: over });
  const q = { ...p, limits: { ...(p.limits ?? {}) } };
  for (const v of over) {
    if (v.field === "timeout") q.timeout = v.max;
    else if (v.field === "memory") q.memory = v.max;
    else (q.limits as Record<string, number>)[v.key] = v.max;
  }
  return { payload: q, clamped: over };
}

/** The config's own defaults must sit under its ceilings. */
export function defaultsOverCeilings(limits: LimitsInput, max: MaxLimits): Violation[] {
  return overCeilings({ limits }, max).map((v) => ({ ...v, field: `eval.limits.${v.key}` }));
}
