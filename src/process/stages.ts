import { z } from "zod";
import { builtinPlugins } from "../../plugins/builtin.ts";
import type { Config } from "../core/config.ts";
import { FalcError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { StageContext, StageHandler } from "../core/stage.ts";
import type { Queue } from "../queue/types.ts";
import { processConfig } from "./config.ts";
import { runIdentification, runPost, runPre, type FlowEnv, type StageResult } from "./flow.ts";
import { isAnalysisId, isTaskId } from "./ids.ts";
import { pluginsOnce } from "./loader.ts";
import { openStore } from "./storage.ts";

const analysisId = z.string().refine(isAnalysisId, "must be an analysis id YYYYMMDD-XXXXXX");
const analysisPayload = z.object({ analysis_id: analysisId }).strict();
const taskPayload = z.object({ task_id: z.string().refine(isTaskId, "must be a task id <analysis id>_<n>") }).strict();
type AnalysisPayload = z.infer<typeof analysisPayload>;
type TaskPayload = z.infer<typeof taskPayload>;

/** Plugins and settings for `falc process` and the three stages; loaded once per process. */
export async function processEnvBase(config: Config, log: Logger, extraDirs: string[] = []) {
  const pcfg = processConfig(config, extraDirs);
  const plugins = await pluginsOnce({ builtins: builtinPlugins, config: pcfg, log });
  return { config: pcfg, plugins };
}

async function envFor(ctx: StageContext): Promise<FlowEnv> {
  // One group commit per stage run: the stage commits what it wrote when it updates analysis.json.
  return { store: openStore(ctx.home), log: ctx.log, signal: ctx.signal, workDir: ctx.workDir, ...(await processEnvBase(ctx.config, ctx.log)) };
}

/** Queue the pre stage of an analysis once: its task id is derived from the analysis id. */
export async function queuePre(queue: Queue, id: string, priority = 0): Promise<void> {
  const taskId = `pre-${id}`;
  if (await queue.get(taskId)) return;
  try {
    await queue.enqueue({ stage: "pre", payload: { analysis_id: id }, id: taskId, priority });
  } catch (e) {
    // Raced with another worker's retry of the same identification: the task exists, which is the point.
    if (!(e instanceof FalcError && e.code === "conflict")) throw e;
  }
}

/** A fatal stage is a recorded result of the analysis, not a passing fault: the queue task fails without retries. */
function settle(stage: string, r: StageResult) {
  const fatal = r.outcome && !r.outcome.ok ? r.outcome.errors.fatal[0] : undefined;
  if (fatal) throw new FalcError("work_failed", `${stage} of ${r.analysis.id} failed: ${fatal.error}`, { retry: false, analysis_id: r.analysis.id });
  return { analysis_id: r.analysis.id, state: r.analysis.state, score: r.analysis.score, ...(r.task ? { task_id: r.task.id, task_state: r.task.state, task_score: r.task.score } : {}), ran: r.outcome !== null };
}

async function setup(ctx: { config: Config; log: Logger }): Promise<void> {
  await processEnvBase(ctx.config, ctx.log);
}

export const identificationStage: StageHandler<AnalysisPayload, unknown> = {
  name: "identification",
  description: "falc process: identify a submitted file or URL and choose the target (Cuckoo3 identification)",
  payloadSchema: analysisPayload,
  defaultTimeoutS: 600,
  setup,
  async run(p, ctx) {
    const r = await runIdentification(await envFor(ctx), p.analysis_id);
    if (r.next === "pre") {
      if (ctx.queue) await queuePre(ctx.queue, p.analysis_id, ctx.task.priority);
      else ctx.log.warn({ event: "no_queue", analysis_id: p.analysis_id }, "no queue to hand the analysis to pre; it stays pending_pre");
    }
    return settle("identification", r);
  },
};

export const preStage: StageHandler<AnalysisPayload, unknown> = {
  name: "pre",
  description: "falc process: static analysis of the selected target, then one task per platform (Cuckoo3 pre)",
  payloadSchema: analysisPayload,
  defaultTimeoutS: 1800,
  setup,
  async run(p, ctx) {
    return settle("pre", await runPre(await envFor(ctx), p.analysis_id));
  },
};

export const postStage: StageHandler<TaskPayload, unknown> = {
  name: "post",
  description: "falc process: a task's collected behaviour and network traffic, signatures, report (Cuckoo3 post)",
  payloadSchema: taskPayload,
  defaultTimeoutS: 1800,
  setup,
  async run(p, ctx) {
    return settle("post", await runPost(await envFor(ctx), p.task_id));
  },
};
