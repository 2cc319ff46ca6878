import type { StageHandler } from "../core/stage.ts";
import { unavailable } from "../core/errors.ts";
import { evalSettings, type EvalSettings } from "./config.ts";
import type { Logger } from "../core/logger.ts";
import { GvisorPool } from "./pool.ts";
import { cgroupVersion } from "./cgroup.ts";
import { buildLimits } from "./limits.ts";
import { evalPayloadSchema, payloadStdin, payloadStdinBytes, type EvalPayload } from "./payload.ts";
import { runEval } from "./run.ts";
import type { EvalResult } from "./types.ts";
import { resolveLanguage } from "./languages.ts";
import { applyCeilings, violationText } from "./ceilings.ts";

/** Run one payload with the config's defaults; shared by the stage, the CLI and the pull worker. */
let shared: GvisorPool | null = null;

/**
 * The process's gVisor warm pool (long-running workers only), created on first use; it boots its
 * sandboxes when the first gVisor evaluation asks for one.
 */
export function sharedPool(settings: EvalSettings, log?: Logger): GvisorPool | undefined {
  // The pool resets a sandbox's memory peak between boot and evaluation, which needs cgroup v1.
  if (settings.gvisorPool <= 0 || cgroupVersion() !== 1) return undefined;
  shared ??= new GvisorPool({ size: settings.gvisorPool, bootLimits: buildLimits(settings.limits), tmpRoot: settings.tmpDir, log });
  return shared;
}

/** Destroy the shared pool's sandboxes (worker shutdown). */
export async function closeSharedPool(): Promise<void> {
  const p = shared;
  shared = null;
  await p?.close();
}

export async function evalPayload(p: EvalPayload, settings: EvalSettings, extra: { signal?: AbortSignal; log?: Logger; tmpRoot?: string; pool?: GvisorPool } = {}): Promise<EvalResult> {
  resolveLanguage(p.language, settings.languages);
  // The operator's ceilings hold for every way in: flags, falc's queue, the pull worker.
  const { payload: q, clamped } = applyCeilings(p, settings.maxLimits, settings.overMax, payloadStdinBytes(p));
  if (clamped.length) extra.log?.warn({ event: "limits_clamped", clamped }, `limits clamped to the operator's maximum: ${clamped.map(violationText).join("; ")}`);
  const limits = buildLimits(settings.limits, q.limits, { timeout: q.timeout, memory: q.memory });
  const r = await runEval(
    { code: p.code, language: p.language, engine: p.engine ?? settings.engine, limits, stdin: payloadStdin(p) },
    { languages: settings.languages, order: settings.order, fallback: settings.fallback, tmpRoot: extra.tmpRoot ?? settings.tmpDir, log: extra.log, signal: extra.signal, pool: extra.pool },
  );
  if (clamped.length) r.clamped = clamped.map(({ field, value, max }) => ({ field, asked: value, max }));
  return r;
}

/** `falc worker --stage eval`: evaluations from falc's own queue. The result is the task's result. */
export const evalStage: StageHandler<EvalPayload, EvalResult> = {
  name: "eval",
  description: "run untrusted code in a sandbox (gVisor, bubblewrap, Docker) with limits",
  payloadSchema: evalPayloadSchema,
  defaultTimeoutS: 120,
  async run(payload, ctx) {
    const settings = evalSettings(ctx.config);
    const r = await evalPayload(payload, settings, { signal: ctx.signal, log: ctx.log, pool: sharedPool(settings, ctx.log) });
    // The sandbox itself failed (no engine, no cgroup, a broken runtime): the code was never evaluated, so the
    // task fails (and is retried, maybe on another node) as the pull worker does, never "finished".
    if (r.status === "error") throw unavailable(r.engine ? `sandbox error (${r.engine}): ${r.reason ?? "unknown"}` : (r.reason ?? "no engine available"));
    return r;
  },
  // The worker child is stopping: its pooled gVisor sandboxes go with it, cgroups and temp dirs included.
  async teardown() {
    await closeSharedPool();
  },
};
