import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../core/config.ts";
import { FalcError, workFailed } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { homePaths } from "../core/paths.ts";
import type { Queue } from "../queue/types.ts";
import { processConfig } from "./config.ts";
import { runIdentification, runPost, runPre, type FlowEnv, type StageResult } from "./flow.ts";
import type { Settings } from "./schemas.ts";
import { processEnvBase } from "./stages.ts";
import { ANALYSIS_SETTLED, type AnalysisState } from "./states.ts";
import { syncfsStats } from "../core/fs-native.ts";
import { sweepAbandoned } from "./sweep.ts";
import { analysesRoot, analysisPaths, binariesRoot } from "./layout.ts";
import type { KnownDocs } from "./summary.ts";
import type { AnalysisDoc } from "./schemas.ts";
import { type Store, createAnalysis, readAnalysis, readTask, type Submission } from "./storage.ts";

/** A file when the path exists; otherwise it must be an http(s) URL. */
export function submissionOf(arg: string): Submission {
  if (existsSync(arg) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) return { category: "file", path: arg };
  return { category: "url", url: arg };
}

export interface LocalOptions {
  store: Store;
  config: Config;
  log: Logger;
  pluginDirs?: string[];
  signal?: AbortSignal;
}

/**
 * Plugins and settings once, and one scratch directory for this process, emptied after each stage
 * run (a stage gets it empty) and removed when the process exits.
 */
let scratch: string | null = null;

async function localEnv(o: LocalOptions) {
  const base = await processEnvBase(o.config, o.log, o.pluginDirs);
  const signal = o.signal ?? new AbortController().signal;
  if (!scratch) {
    const dir = join(homePaths(o.store.home).run, "work", `process-local-${process.pid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  const workDir = scratch;
  const inStage = async <T>(fn: (env: FlowEnv) => Promise<T>): Promise<T> => {
    try {
      return await fn({ store: o.store, log: o.log, signal, workDir, ...base });
    } finally {
      for (const f of readdirSync(workDir)) rmSync(join(workDir, f), { recursive: true, force: true });
    }
  };
  return { config: base.config, inStage, workDir };
}

/** How long `falc process FILE...` keeps new analyses staged before a group commit (see durable.ts). */
const LOCAL_GROUP_MS = 1000;
/** The same for `--submit`: shorter, so the workers get the first files soon. */
const SUBMIT_GROUP_MS = 200;

export interface LocalResult {
  id: string;
  /** What was written, for the summary (summary.ts KnownDocs). */
  known: KnownDocs;
}

/**
 * `falc process FILE...`: submit each, then identification and pre in this process (no workers).
 * The analyses are committed in groups (about once a second, and at the end: durable.ts), so the
 * analyses returned are committed. `onEach(i)` is called as file i starts.
 */
export async function processLocally(o: LocalOptions, subs: Submission[], settings: Partial<Settings>, onEach?: (i: number) => void): Promise<LocalResult[]> {
  // Plugins first: a broken plugin directory is refused before anything is stored.
  const { config, inStage, workDir } = await localEnv(o);
  const { store } = o;
  sweepAbandoned(analysesRoot(store.home), binariesRoot(store.home));
  const out: LocalResult[] = [];
  await store.tx.inBatch(async () => {
    for (const [i, sub] of subs.entries()) {
      if (o.signal?.aborted) break;
      onEach?.(i);
      // The stored bytes stay in this process (held in the scratch directory's pool) for the stages.
      const { analysis } = createAnalysis(store, sub, { timeout: config.timeout, ...settings }, new Date(), { owner: workDir });
      const paths = analysisPaths(store, analysis.id);
      const ident = await inStage((env) => runIdentification(env, analysis.id));
      const pre = ident.next === "pre" ? await inStage((env) => runPre(env, analysis.id)) : null;
      // Documents as written (a stage whose JSON dump is missing has none).
      const doc = (r: StageResult | null, path: string) => (r?.outcome?.document && store.tx.isWritten(path) ? r.outcome.document : null);
      out.push({ id: analysis.id, known: { analysis: (pre ?? ident).analysis, ident: doc(ident, paths.identificationJson), pre: doc(pre, paths.preJson), tasks: pre?.tasks ?? [] } });
      store.tx.groupBoundary(LOCAL_GROUP_MS);
    }
  });
  o.log.debug({ event: "storage_commits", ...store.tx.stats, syncfs: { ...syncfsStats } }, `${store.tx.stats.commits} storage commit(s)`);
  return out;
}

/**
 * `falc process FILE... --submit`: store each and queue identification for `falc worker --stage
 * identification,pre`. Committed in small groups; a group's analyses are queued once it is durable.
 */
export async function submitToQueue(o: { store: Store; config: Config; queue: Queue }, subs: Submission[], settings: Partial<Settings>, onEach?: (i: number) => void): Promise<string[]> {
  // The workers' plugins do the work: only the settings are needed here.
  const timeout = processConfig(o.config).timeout;
  const { store } = o;
  sweepAbandoned(analysesRoot(store.home), binariesRoot(store.home));
  const ids: string[] = [];
  let waiting: AnalysisDoc[] = [];
  const enqueue = async () => {
    for (const a of waiting) await o.queue.enqueue({ stage: "identification", payload: { analysis_id: a.id }, id: `identification-${a.id}`, priority: a.settings.priority });
    waiting = [];
  };
  await store.tx.inBatch(async () => {
    for (const [i, sub] of subs.entries()) {
      onEach?.(i);
      const { analysis } = createAnalysis(store, sub, { timeout, ...settings }, new Date(), { owner: binariesRoot(store.home), digests: "sha256" });
      ids.push(analysis.id);
      waiting.push(analysis);
      if (store.tx.groupBoundary(SUBMIT_GROUP_MS)) await enqueue();
    }
    store.tx.commitNow();
    await enqueue();
  });
  return ids;
}

/** Queue post for a task whose behaviour is attached; returns the queue task id to wait on. */
export async function submitPost(queue: Queue, taskId: string, priority = 1): Promise<string> {
  const id = `post-${taskId}-${Date.now().toString(36)}`;
  await queue.enqueue({ stage: "post", payload: { task_id: taskId }, id, priority });
  return id;
}

/** `falc process post ID --task-dir DIR`: run post for one task here. */
export async function postLocally(o: LocalOptions, taskId: string): Promise<void> {
  const { inStage } = await localEnv(o);
  await inStage((env) => runPost(env, taskId));
}

/**
 * Wait until queued work on an analysis is done: the analysis settles (tasks_pending, finished,
 * no_selected, fatal_error), or — with a task — the task is reported or failed. A queue task that
 * failed or was cancelled ends the wait with its error instead of waiting for ever.
 */
export async function waitForAnalysis(
  o: { store: Store; queue: Queue; signal?: AbortSignal; onState?: (s: string) => void },
  id: string,
  task?: { taskId: string; queueId: string },
): Promise<void> {
  const queueIds = task ? [task.queueId] : [`identification-${id}`, `pre-${id}`];
  const state = () => (task ? readTask(o.store, task.taskId).state : readAnalysis(o.store, id).state);
  const settled = (s: string) => (task ? s === "reported" || s === "fatal_error" : ANALYSIS_SETTLED.includes(s as AnalysisState));
  let last = "";
  for (;;) {
    if (o.signal?.aborted) throw new FalcError("work_failed", `stopped waiting for ${id}`);
    const now = state();
    if (now !== last) o.onState?.((last = now));
    if (settled(now)) return;
    for (const qid of queueIds) {
      const t = await o.queue.get(qid);
      if (t && (t.status === "failed" || t.status === "cancelled")) {
        // The stage may have recorded the outcome just before the task ended: look once more.
        if (settled(state())) return;
        throw workFailed(`queue task ${qid} ${t.status}${t.error ? `: ${t.error.message}` : ""}`);
      }
    }
    await Bun.sleep(200);
  }
}
