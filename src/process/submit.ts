import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../core/config.ts";
import { FalcError, workFailed } from "../core/errors.ts";
import { silentLogger, type Logger } from "../core/logger.ts";
import { homePaths } from "../core/paths.ts";
import type { Queue } from "../queue/types.ts";
import { runIdentification, runPost, runPre, type FlowEnv } from "./flow.ts";
import type { Settings } from "./schemas.ts";
import { processEnvBase } from "./stages.ts";
import { ANALYSIS_SETTLED } from "./states.ts";
import { createAnalysis, readAnalysis, readTask, type Submission } from "./storage.ts";

/** A file when the path exists; otherwise it must be an http(s) URL. */
export function submissionOf(arg: string): Submission {
  if (existsSync(arg) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) return { category: "file", path: arg };
  return { category: "url", url: arg };
}

export interface LocalOptions {
  home: string;
  config: Config;
  log: Logger;
  pluginDirs?: string[];
  signal?: AbortSignal;
}

async function localEnv(o: LocalOptions, name: string): Promise<{ env: FlowEnv; done(): void }> {
  const workDir = join(homePaths(o.home).run, "work", `process-${name}-${process.pid}`);
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const base = await processEnvBase(o.config, o.log, o.pluginDirs);
  return {
    env: { home: o.home, log: o.log, signal: o.signal ?? new AbortController().signal, workDir, ...base },
    done: () => rmSync(workDir, { recursive: true, force: true }),
  };
}

/** `falc process FILE`: submit, then identification and pre in this process (no workers). */
export async function processLocally(o: LocalOptions, sub: Submission, settings: Partial<Settings>): Promise<string> {
  // Plugins first: a broken plugin directory is refused before anything is stored.
  const { env, done } = await localEnv(o, "local");
  try {
    const { analysis } = createAnalysis(o.home, sub, { timeout: env.config.timeout, ...settings });
    const r = await runIdentification(env, analysis.id);
    if (r.next === "pre") await runPre(env, analysis.id);
    return analysis.id;
  } finally {
    done();
  }
}

/** `falc process FILE --submit`: store it and queue identification for `falc worker --stage identification,pre`. */
export async function submitToQueue(o: { home: string; config: Config; queue: Queue }, sub: Submission, settings: Partial<Settings>): Promise<string> {
  const { config } = await processEnvBase(o.config, silentLogger);
  const { analysis } = createAnalysis(o.home, sub, { timeout: config.timeout, ...settings });
  await o.queue.enqueue({ stage: "identification", payload: { analysis_id: analysis.id }, id: `identification-${analysis.id}`, priority: analysis.settings.priority });
  return analysis.id;
}

/** Queue post for a task whose behaviour is attached; returns the queue task id to wait on. */
export async function submitPost(queue: Queue, taskId: string, priority = 1): Promise<string> {
  const id = `post-${taskId}-${Date.now().toString(36)}`;
  await queue.enqueue({ stage: "post", payload: { task_id: taskId }, id, priority });
  return id;
}

/** `falc process post ID --task-dir DIR`: run post for one task here. */
export async function postLocally(o: LocalOptions, taskId: string): Promise<void> {
  const { env, done } = await localEnv(o, "post");
  try {
    await runPost(env, taskId);
  } finally {
    done();
  }
}

/**
 * Wait until queued work on an analysis is done: the analysis settles (tasks_pending, finished,
 * no_selected, fatal_error), or — with a task — the task is reported or failed. A queue task that
 * failed or was cancelled ends the wait with its error instead of waiting for ever.
 */
export async function waitForAnalysis(
  o: { home: string; queue: Queue; signal?: AbortSignal; onState?: (s: string) => void },
  id: string,
  task?: { taskId: string; queueId: string },
): Promise<void> {
  const taskId = task?.taskId;
  const queueIds = task ? [task.queueId] : [`identification-${id}`, `pre-${id}`];
  let last = "";
  for (;;) {
    if (o.signal?.aborted) throw new FalcError("work_failed", `stopped waiting for ${id}`);
    const state = taskId ? readTask(o.home, taskId).state : readAnalysis(o.home, id).state;
    if (state !== last) o.onState?.((last = state));
    if (taskId ? state === "reported" || state === "fatal_error" : ANALYSIS_SETTLED.includes(state as never)) return;
    for (const qid of queueIds) {
      const t = await o.queue.get(qid);
      if (t && (t.status === "failed" || t.status === "cancelled")) {
        // The stage may have recorded the outcome just before the task ended: look once more.
        const again = taskId ? readTask(o.home, taskId).state : readAnalysis(o.home, id).state;
        if (taskId ? again === "reported" || again === "fatal_error" : ANALYSIS_SETTLED.includes(again as never)) return;
        throw workFailed(`queue task ${qid} ${t.status}${t.error ? `: ${t.error.message}` : ""}`);
      }
    }
    await Bun.sleep(200);
  }
}
