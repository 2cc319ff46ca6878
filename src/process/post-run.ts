/**
 * `falc process post ID --task-dir DIR`: pick the task, attach what the sandbox collected, run post here
 * or queue it (and wait), then judge the task. The command (commands/process/post.ts) parses and prints.
 */
import type { Config } from "../core/config.ts";
import { EXIT, usageError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Queue } from "../queue/types.ts";
import { attachBehaviour, collectedFiles } from "./attach.ts";
import { makeTaskId, splitAnalysisId } from "./ids.ts";
import { type Store, openStore, readAnalysis } from "./storage.ts";
import { postLocally, submitPost, waitForAnalysis } from "./submit.ts";
import { type AnalysisSummary, summarize } from "./summary.ts";

export interface PostRequest {
  analysisId: string;
  taskDir: string;
  /** The task's number; required when the analysis has more than one. */
  task?: number;
  submit: boolean;
  wait: boolean;
  pluginDirs: string[];
  failScore?: number;
}

export type PostOutcome =
  | { kind: "queued"; taskId: string; queueId: string }
  | { kind: "done"; taskId: string; summary: AnalysisSummary; code: number };

/** The task `n` of an analysis, or its only task; a usage error naming the choices otherwise. */
function pickTask(store: Store, id: string, n: number | undefined): { taskId: string; priority: number } {
  splitAnalysisId(id);
  const analysis = readAnalysis(store, id);
  const tasks = analysis.tasks;
  if (!tasks.length) throw usageError(`analysis ${id} has no tasks (it is ${analysis.state}); pre creates them`);
  if (n === undefined && tasks.length > 1)
    throw usageError(`analysis ${id} has ${tasks.length} tasks; pick one with --task N: ${tasks.map((t) => `${t.id.slice(t.id.lastIndexOf("_") + 1)} (${t.platform}${t.os_version ? ` ${t.os_version}` : ""})`).join(", ")}`);
  const taskId = n !== undefined ? makeTaskId(id, n) : tasks[0]!.id;
  if (!tasks.some((t) => t.id === taskId)) throw usageError(`analysis ${id} has no task ${n}; it has ${tasks.map((t) => t.id).join(", ")}`);
  return { taskId, priority: analysis.settings.priority };
}

export async function runPostCommand(req: PostRequest, io: { config: Config; log: Logger; queue: () => Promise<Queue>; warn: (line: string) => void }): Promise<PostOutcome> {
  if (req.submit && req.pluginDirs.length) throw usageError("--plugin-dir applies to work done here; queued work uses the workers' plugins");
  // This command's storage handle: its writes go through one group commit.
  const store = openStore(io.config.home);
  const { taskId, priority } = pickTask(store, req.analysisId, req.task);
  await attachBehaviour(store, taskId, collectedFiles(req.taskDir));
  if (req.submit) {
    const queueId = await submitPost(await io.queue(), taskId, priority);
    if (!req.wait) return { kind: "queued", taskId, queueId };
    await waitForAnalysis({ store, queue: await io.queue() }, req.analysisId, { taskId, queueId });
  } else {
    await postLocally({ store, config: io.config, log: io.log, pluginDirs: req.pluginDirs }, taskId);
  }
  const summary = summarize(store, req.analysisId);
  const task = summary.tasks.find((t) => t.id === taskId)!;
  let code: number = EXIT.ok;
  if (task.state === "fatal_error") {
    io.warn(`post of ${taskId} failed: ${task.errors.fatal[0]?.error ?? "fatal error"}`);
    code = EXIT.failed;
  } else if (req.failScore !== undefined && task.score > req.failScore) {
    io.warn(`task ${taskId} scored ${task.score}, over --fail-score ${req.failScore}`);
    code = EXIT.failed;
  }
  return { kind: "done", taskId, summary, code };
}
