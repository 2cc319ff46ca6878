import { z } from "zod";
import type { Limits } from "./types.ts";

export const DEFAULT_LIMITS: Limits = {
  wallMs: 10_000,
  cpuMs: 10_000,
  memoryBytes: 256 * 1024 * 1024,
  pids: 64,
  outputBytes: 1024 * 1024,
  fileBytes: 16 * 1024 * 1024,
  diskBytes: 64 * 1024 * 1024,
};

const MB = 1024 * 1024;

/** The `eval.limits` config section and the per-task overrides use these units (seconds, MB, KB). */
export const limitsInputSchema = z
  .object({
    timeout: z.number().positive().max(3600).optional(),
    cpu: z.number().positive().max(3600).optional(),
    memory: z.number().int().min(16).max(65536).optional(),
    pids: z.number().int().min(1).max(4096).optional(),
    output_kb: z.number().int().min(1).max(1024 * 1024).optional(),
    file_mb: z.number().int().min(1).max(65536).optional(),
    disk_mb: z.number().int().min(1).max(65536).optional(),
  })
  .strict();
export type LimitsInput = z.infer<typeof limitsInputSchema>;

/** Layer limit inputs (config, then task/flags) over the defaults. CPU time defaults to the wall time. */
export function buildLimits(...layers: (LimitsInput | undefined)[]): Limits {
  const l = { ...DEFAULT_LIMITS };
  let cpuSet = false;
  for (const x of layers) {
    if (!x) continue;
    if (x.timeout !== undefined) l.wallMs = Math.round(x.timeout * 1000);
    if (x.cpu !== undefined) { l.cpuMs = Math.round(x.cpu * 1000); cpuSet = true; }
    if (x.memory !== undefined) l.memoryBytes = x.memory * MB;
    if (x.pids !== undefined) l.pids = x.pids;
    if (x.output_kb !== undefined) l.outputBytes = x.output_kb * 1024;
    if (x.file_mb !== undefined) l.fileBytes = x.file_mb * MB;
    if (x.disk_mb !== undefined) l.diskBytes = x.disk_mb * MB;
  }
  if (!cpuSet) l.cpuMs = l.wallMs;
  return l;
}

/** RLIMIT_CPU takes whole seconds; round up so the limit is never tighter than asked. */
export const cpuSeconds = (l: Limits) => Math.max(1, Math.ceil(l.cpuMs / 1000));

/**
 * RLIMIT_CPU inside gVisor: only a backstop past the wall time. gVisor counts a task's CPU time by
 * the wall clock while it is in application mode, which on a busy machine runs far ahead of the
 * host's count (a 1 s limit fired at 286 ms of host CPU here, under load 10): as the limit it would
 * kill programs early. That count never exceeds the wall time, so at wall + 1 s it never fires
 * first; falc's watchdog enforces the CPU limit on the cgroup's exact host CPU time instead.
 */
export const gvisorCpuSeconds = (l: Limits) => Math.max(cpuSeconds(l), Math.ceil(l.wallMs / 1000) + 1);
