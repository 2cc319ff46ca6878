import { existsSync, mkdirSync } from "node:fs";
import type { Logger } from "../core/logger.ts";
import type { ProcessConfig } from "./config.ts";
import { identificationDocument, postDocument, preDocument } from "./documents.ts";
import { makeTaskId, splitTaskId } from "./ids.ts";
import { analysisDir, analysisPaths, binaryPath, taskPaths } from "./layout.ts";
import type { PluginSet } from "./loader.ts";
import type { FileTarget, UrlTarget } from "./plugin.ts";
import { runStage, type StageOutcome } from "./runner.ts";
import { hashFile } from "../core/hash-file.ts";
import { identifyResultSchema, parseDoc, type AnalysisDoc, type IdentifyResult, type TargetFileDoc, type TaskDoc } from "./schemas.ts";
import { assertAnalysisMove, assertTaskMove, TASK_UNFINISHED, type AnalysisState } from "./states.ts";
import { type GroupCommit, withStageCommit } from "./durable.ts";
import { sweepTemps } from "./sweep.ts";
import { type Store, mergeErrors, readAnalysis, readablePath, readStageDoc, readTask, updateAnalysis, writeTask } from "./storage.ts";

/** What a stage needs from wherever it runs (a worker child or `falc process` itself). */
export interface FlowEnv {
  /** The storage and its group commit: every write of the stage goes through it. */
  store: Store;
  plugins: PluginSet;
  config: ProcessConfig;
  log: Logger;
  signal: AbortSignal;
  /** Scratch directory for this stage run (it exists; the caller removes it afterwards). */
  workDir: string;
}

export interface StageResult {
  analysis: AnalysisDoc;
  /** null when the stage did not run because the analysis (or task) was not waiting for it. */
  outcome: StageOutcome | null;
  /** The next stage to queue, if any. */
  next: "pre" | null;
  task?: TaskDoc;
  /** The tasks pre created. */
  tasks?: TaskDoc[];
}

/** The submission: its hashes were computed from the stored bytes when it was stored (older analyses: empty). */
function submittedTarget(store: Store, a: AnalysisDoc): FileTarget | UrlTarget {
  const s = a.submitted;
  if (s.category === "url") return { category: "url", url: s.url as string };
  const f = s as AnalysisDoc["submitted"] & { filename: string; size: number; sha256: string; md5: string; sha1: string; sha512?: string };
  const known = (h: string | undefined) => h || undefined;
  return { category: "file", path: readablePath(store, f.sha256), filename: f.filename, size: f.size, sha256: f.sha256, md5: known(f.md5), sha1: known(f.sha1), sha512: known(f.sha512) };
}

/**
 * The selected target for pre and post: the submitted file (the analysis's `binary`) and, for a file
 * chosen inside it, its extrpath; filename, size and hashes are the selected file's (or the URL).
 */
function selectedTarget(store: Store, a: AnalysisDoc, ident: IdentifyResult): FileTarget | UrlTarget {
  const t = ident.target as Record<string, unknown>;
  if (ident.category === "url") return { category: "url", url: String(t.url) };
  const sha256 = (a.submitted as { sha256: string }).sha256;
  const path = readablePath(store, sha256);
  if (!existsSync(path)) throw new Error(`the submitted file is gone from storage/binaries (${binaryPath(store.home, sha256)})`);
  const extrpath = Array.isArray(t.extrpath) ? (t.extrpath as string[]) : [];
  return { category: "file", path, filename: String(t.filename), size: Number(t.size), sha256: String(t.sha256), md5: String(t.md5), sha1: String(t.sha1), sha512: String(t.sha512), extrpath };
}

function readIdentification(store: Store, id: string): { doc: Record<string, unknown>; ident: IdentifyResult } {
  const p = analysisPaths(store, id).identificationJson;
  const doc = readStageDoc(store, p);
  if (!doc) throw new Error(`${p} is missing`);
  return { doc, ident: parseDoc(identifyResultSchema, doc, p) };
}

/** A fatal error found by the core itself (not a plugin), in the same layout. */
function coreFatal(e: unknown): StageOutcome {
  const err = e instanceof Error ? e : new Error(String(e));
  return { ok: false, results: {}, signatures: [], score: 0, errors: { errors: [], fatal: [{ error: err.message, traceback: err.stack ?? "" }] }, document: null };
}

/** The JSON dump is what the next stage reads: without it the stage has not really finished. */
function requireWritten(tx: GroupCommit, outcome: StageOutcome, path: string, what: string): void {
  if (outcome.ok && !tx.isWritten(path)) {
    outcome.ok = false;
    outcome.errors.fatal.push({ error: `${what} was not written: is the \`json\` reporter left out (process.disable)?`, traceback: "" });
  }
}

type SubmittedFile = Extract<AnalysisDoc["submitted"], { category: "file" }> & { sha256: string; md5: string; sha1: string; sha512?: string };

/** Cuckoo3 has the submitted file's hashes and type from the start; falc learns them in identification. */
function completeSubmitted(store: Store, s: SubmittedFile, ident: IdentifyResult): void {
  const t = ident.target as Partial<TargetFileDoc>;
  if (ident.category === "file" && t.sha256 === s.sha256) {
    s.md5 = t.md5!;
    s.sha1 = t.sha1!;
    s.sha512 = t.sha512;
    s.type = t.filetype!;
    s.media_type = t.media_type!;
  } else if (!s.md5) {
    // The target was selected inside the submitted container: hash the container itself.
    const h = hashFile(readablePath(store, s.sha256), ["md5", "sha1", "sha512"] as const);
    Object.assign(s, { md5: h.md5, sha1: h.sha1, sha512: h.sha512 });
  }
}

/** The parent exists (the analysis directory); a retried stage finds the directory already there. */
function mkdirIfNew(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}

function moveAnalysis(a: AnalysisDoc, to: AnalysisState): void {
  assertAnalysisMove(a.id, a.state, to);
  a.state = to;
}

function mergeLabels(a: AnalysisDoc, doc: Record<string, unknown> | null): void {
  if (!doc) return;
  for (const k of ["families", "tags"] as const) for (const v of (doc[k] as string[] | undefined) ?? []) if (!a[k].includes(v)) a[k].push(v);
  for (const v of (doc.ttps as string[] | undefined) ?? []) if (!a.ttps.includes(v)) a.ttps.push(v);
}

/**
 * A stage's writes wait for its commit (in updateAnalysis); a stage that throws instead (cancelled,
 * or an error outside the plugins) drops them, so a later commit cannot publish half a stage. On a
 * committed analysis it first clears temps a killed worker left there.
 */
async function stageWrites<T>(tx: GroupCommit, dirs: string[], fn: () => Promise<T>): Promise<T> {
  for (const d of dirs) if (!tx.isStaged(d)) sweepTemps(d);
  const m = tx.mark();
  try {
    // Reporters write through the plugin API, which finds this commit in the stage's async context.
    return await withStageCommit(tx, fn);
  } catch (e) {
    tx.discardSince(m);
    throw e;
  }
}

/** Identification: what was submitted, and what should run. Ends pending_pre, no_selected or fatal_error. */
export function runIdentification(env: FlowEnv, analysisId: string): Promise<StageResult> {
  return stageWrites(env.store.tx, [analysisDir(env.store.home, analysisId)], () => identification(env, analysisId));
}

/** Pre: static analysis of the selected target, then one task per platform. Ends tasks_pending or fatal_error. */
export function runPre(env: FlowEnv, analysisId: string): Promise<StageResult> {
  return stageWrites(env.store.tx, [analysisDir(env.store.home, analysisId)], () => pre(env, analysisId));
}

/** Post: a task's collected behaviour (events/*.json, dump.pcap). Ends the task reported or fatal_error. */
export function runPost(env: FlowEnv, taskId: string): Promise<StageResult> {
  const { analysisId } = splitTaskId(taskId);
  return stageWrites(env.store.tx, [analysisDir(env.store.home, analysisId), taskPaths(env.store, taskId).dir], () => post(env, taskId));
}

async function identification(env: FlowEnv, analysisId: string): Promise<StageResult> {
  const analysis = readAnalysis(env.store, analysisId);
  if (analysis.state !== "pending_identification") return { analysis, outcome: null, next: analysis.state === "pending_pre" ? "pre" : null };
  const paths = analysisPaths(env.store, analysisId);
  const target = submittedTarget(env.store, analysis);
  const outcome = await runStage({
    stage: "identification",
    plugins: env.plugins,
    platforms: [],
    base: {
      stage: "identification",
      analysisId,
      analysisDir: paths.dir,
      category: analysis.category,
      target,
      identification: undefined,
      settings: analysis.settings,
      signal: env.signal,
      workDir: env.workDir,
      log: env.log.child({ analysis_id: analysisId, stage: "identification" }),
    },
    document: (p) => identificationDocument(p, target),
  });
  requireWritten(env.store.tx, outcome, paths.identificationJson, "identification.json");

  let next: "pre" | null = null;
  const { analysis: updated } = await updateAnalysis(env.store, analysisId, (a) => {
    mergeErrors(a.errors, outcome.errors);
    if (!outcome.ok) return moveAnalysis(a, "fatal_error");
    const ident = parseDoc(identifyResultSchema, outcome.document, "identification");
    a.score = Math.max(a.score, outcome.score);
    mergeLabels(a, outcome.document);
    if (a.submitted.category === "file") completeSubmitted(env.store, a.submitted as SubmittedFile, ident);
    const goOn = ident.selected || (!ident.identified && !env.config.cancel_unidentified);
    if (!goOn) return moveAnalysis(a, "no_selected");
    // Cuckoo3's merge_settings_ident: the submission's platforms win, then identification's, then the default.
    if (!a.settings.platforms.length) a.settings.platforms = ident.target.platforms.length ? ident.target.platforms : [env.config.default_platform];
    moveAnalysis(a, "pending_pre");
    next = "pre";
  });
  return { analysis: updated, outcome, next };
}

async function pre(env: FlowEnv, analysisId: string): Promise<StageResult> {
  const analysis = readAnalysis(env.store, analysisId);
  if (analysis.state !== "pending_pre") return { analysis, outcome: null, next: null };
  const paths = analysisPaths(env.store, analysisId);
  let outcome: StageOutcome;
  let ident: IdentifyResult | null = null;
  try {
    const { doc, ident: i } = readIdentification(env.store, analysisId);
    ident = i;
    const target = selectedTarget(env.store, analysis, i);
    outcome = await runStage({
      stage: "pre",
      plugins: env.plugins,
      platforms: i.target.platforms.map((p) => p.platform),
      base: {
        stage: "pre",
        analysisId,
        analysisDir: paths.dir,
        category: analysis.category,
        target,
        identification: doc,
        settings: analysis.settings,
        signal: env.signal,
        workDir: env.workDir,
        log: env.log.child({ analysis_id: analysisId, stage: "pre" }),
      },
      document: (p) => preDocument(p, analysisId, i),
    });
    requireWritten(env.store.tx, outcome, paths.preJson, "pre.json");
  } catch (e) {
    if (env.signal.aborted) throw e;
    outcome = coreFatal(e);
  }

  const created: TaskDoc[] = [];
  const { analysis: updated } = await updateAnalysis(env.store, analysisId, (a) => {
    mergeErrors(a.errors, outcome.errors);
    if (!outcome.ok || !ident) return moveAnalysis(a, "fatal_error");
    a.target = ident.target;
    a.score = Math.max(a.score, outcome.score);
    mergeLabels(a, outcome.document);
    a.tasks = a.settings.platforms.map((p, i) => {
      const task: TaskDoc = {
        id: makeTaskId(a.id, i + 1),
        analysis_id: a.id,
        kind: a.kind,
        state: "pending",
        number: i + 1,
        score: 0,
        platform: p.platform,
        os_version: p.os_version,
        machine_tags: [],
        machine: "",
        errors: { errors: [], fatal: [] },
      };
      mkdirIfNew(taskPaths(env.store, task.id).dir);
      writeTask(env.store, task);
      created.push(task);
      return { id: task.id, platform: task.platform, os_version: task.os_version, state: task.state, score: 0 };
    });
    moveAnalysis(a, "tasks_pending");
  });
  return { analysis: updated, outcome, next: null, tasks: created };
}

async function post(env: FlowEnv, taskId: string): Promise<StageResult> {
  const { analysisId } = splitTaskId(taskId);
  const analysis = readAnalysis(env.store, analysisId);
  const task = readTask(env.store, taskId);
  if (task.state !== "pending_post") return { analysis, outcome: null, next: null, task };
  const paths = analysisPaths(env.store, analysisId);
  const tp = taskPaths(env.store, taskId);
  let outcome: StageOutcome;
  try {
    const read = readIdentification(env.store, analysisId);
    const pre = readStageDoc(env.store, paths.preJson);
    if (!pre) throw new Error(`${paths.preJson} is missing`);
    outcome = await runStage({
      stage: "post",
      plugins: env.plugins,
      platforms: [task.platform],
      base: {
        stage: "post",
        analysisId,
        taskId,
        analysisDir: paths.dir,
        taskDir: tp.dir,
        category: analysis.category,
        target: selectedTarget(env.store, analysis, read.ident),
        identification: read.doc,
        pre,
        settings: analysis.settings,
        signal: env.signal,
        workDir: env.workDir,
        log: env.log.child({ analysis_id: analysisId, task_id: taskId, stage: "post" }),
      },
      document: (p) => postDocument(p, taskId),
    });
    requireWritten(env.store.tx, outcome, tp.reportJson, `task_${task.number}/report.json`);
  } catch (e) {
    if (env.signal.aborted) throw e;
    outcome = coreFatal(e);
  }

  let doneTask = task;
  const { analysis: updated } = await updateAnalysis(env.store, analysisId, (a) => {
    const t = readTask(env.store, taskId);
    // The task's errors are those of its latest post run: a task posted again does not keep the last run's.
    t.errors = { errors: [...outcome.errors.errors], fatal: [...outcome.errors.fatal] };
    assertTaskMove(t.id, t.state, outcome.ok ? "reported" : "fatal_error");
    t.state = outcome.ok ? "reported" : "fatal_error";
    if (outcome.ok) t.score = outcome.score;
    writeTask(env.store, t);
    doneTask = t;
    const entry = a.tasks.find((x) => x.id === t.id);
    if (entry) {
      entry.state = t.state;
      entry.score = t.score;
    }
    if (outcome.ok) {
      a.score = Math.max(a.score, outcome.score);
      mergeLabels(a, outcome.document);
    }
    // Cuckoo3: the analysis is finished once no task is still on its way, whatever each task's end.
    if (a.state === "tasks_pending" && !a.tasks.some((x) => TASK_UNFINISHED.includes(x.state))) moveAnalysis(a, "finished");
  });
  return { analysis: updated, outcome, next: null, task: doneTask };
}
