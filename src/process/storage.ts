import { chmodSync, closeSync, constants, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, symlinkSync, unlinkSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fsyncDir, writeJsonAtomic } from "../core/atomic.ts";
import { inputError, notFound } from "../core/errors.ts";
import { hashFd } from "./hash.ts";
import { newAnalysisId } from "./ids.ts";
import { analysisPaths, analysesRoot, binariesRoot, binaryPath, taskPaths } from "./layout.ts";
import { commitWrites, writeStageJson } from "./durable.ts";
import { withFileLock } from "./lock.ts";
import { analysisSchema, parseDoc, settingsSchema, taskSchema, type AnalysisDoc, type Settings, type StageErrorsDoc, type TaskDoc } from "./schemas.ts";

export interface StoredBinary {
  path: string;
  size: number;
  sha256: string;
}

/**
 * Directories known to exist: creating them again is a wasted system call per file. Should one be
 * removed meanwhile (a clean-up of old analyses), the ENOENT that follows re-creates it (inDir).
 */
const madeDirs = new Set<string>();
function ensureDirOnce(dir: string): void {
  if (madeDirs.has(dir)) return;
  mkdirSync(dir, { recursive: true });
  madeDirs.add(dir);
}

function inDir<T>(dir: string, fn: () => T): T {
  ensureDirOnce(dir);
  try {
    return fn();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    madeDirs.delete(dir);
    ensureDirOnce(dir);
    return fn();
  }
}

/**
 * Copy a file into binaries/<h0>/<h1>/<sha256>. The copy is hashed (not the source), so the name
 * always matches the content even when the source changes meanwhile; an existing copy is kept.
 */
export function storeBinary(home: string, src: string): StoredBinary {
  const root = binariesRoot(home);
  ensureDirOnce(root);
  const tmp = join(root, `.incoming-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    // A reflink where the filesystem can, a kernel-side copy otherwise.
    copyFileSync(src, tmp, constants.COPYFILE_FICLONE);
    const fd = openSync(tmp, "r");
    let h: { size: number; sha256: string };
    let fresh = false;
    try {
      // Only the hash the name needs: the others are identification's work, done by the workers.
      h = hashFd(fd, ["sha256"] as const);
      fresh = !existsSync(binaryPath(home, h.sha256));
      if (fresh) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const dest = binaryPath(home, h.sha256);
    if (!fresh) {
      unlinkSync(tmp);
    } else {
      chmodSync(tmp, 0o444);
      inDir(dirname(dest), () => renameSync(tmp, dest));
      fsyncDir(dirname(dest));
    }
    return { path: dest, ...h };
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw e;
  }
}

/** A submission's file must be a readable, non-empty regular file. */
export function checkSubmittedFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw inputError(code === "ENOENT" ? `${path}: no such file` : `${path}: cannot read (${code})`);
  }
  if (!st.isFile()) throw inputError(`${path}: not a regular file`);
  if (st.size === 0) throw inputError(`${path}: the file is empty, there is nothing to analyse`);
}

export function checkSubmittedUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw inputError(`\`${url.slice(0, 200)}\` is neither a file nor a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw inputError(`URL ${url.slice(0, 200)}: only http and https URLs can be analysed`);
  if (url.length > 4096) throw inputError("URL is longer than 4096 characters");
  return u.href;
}

export type Submission = { category: "file"; path: string; filename?: string } | { category: "url"; url: string };

export function checkSubmission(sub: Submission): void {
  if (sub.category === "file") checkSubmittedFile(sub.path);
  else checkSubmittedUrl(sub.url);
}

export interface CreatedAnalysis {
  analysis: AnalysisDoc;
  binary: StoredBinary | null;
}

/** Make the analysis directory, store the binary and write analysis.json (state pending_identification). */
export function createAnalysis(home: string, sub: Submission, settings: Partial<Settings> = {}, now = new Date()): CreatedAnalysis {
  let binary: StoredBinary | null = null;
  let submitted: AnalysisDoc["submitted"];
  if (sub.category === "file") {
    checkSubmittedFile(sub.path);
    binary = storeBinary(home, sub.path);
    // md5, sha1, type and media_type are filled in by identification (Cuckoo3 has them at submission).
    submitted = { category: "file", filename: sub.filename ?? basename(sub.path), size: binary.size, md5: "", sha1: "", sha256: binary.sha256, media_type: "", type: "" };
  } else {
    submitted = { category: "url", url: checkSubmittedUrl(sub.url) };
  }
  const { id, dir } = makeAnalysisDir(home, now);
  const paths = analysisPaths(home, id);
  if (binary) symlinkSync(relative(dir, binary.path), paths.binary);
  const analysis: AnalysisDoc = {
    id,
    kind: "standard",
    state: "pending_identification",
    score: 0,
    settings: parseDoc(settingsSchema, settings, "settings"),
    created_on: now.toISOString(),
    category: sub.category,
    submitted,
    target: {},
    errors: { errors: [], fatal: [] },
    tasks: [],
    families: [],
    tags: [],
    ttps: [],
  };
  writeJsonAtomic(paths.analysisJson, analysis);
  return { analysis, binary };
}

function makeAnalysisDir(home: string, now: Date): { id: string; dir: string } {
  for (;;) {
    const id = newAnalysisId(now);
    const { dir } = analysisPaths(home, id);
    try {
      inDir(dirname(dir), () => mkdirSync(dir));
      return { id, dir };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
}

function readJsonFile(path: string, missing: () => Error): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw missing();
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw inputError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

export function readAnalysis(home: string, id: string): AnalysisDoc {
  const p = analysisPaths(home, id).analysisJson;
  return parseDoc(analysisSchema, readJsonFile(p, () => notFound(`no analysis ${id} in ${analysesRoot(home)}`)), p);
}

/** A stage document (identification.json, pre.json, report.json) as a plain object, or null when absent. */
export function readStageDoc(path: string): Record<string, unknown> | null {
  if (!existsSync(path)) return null;
  const v = readJsonFile(path, () => notFound(`${path} is missing`));
  if (!v || typeof v !== "object" || Array.isArray(v)) throw inputError(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export function readTask(home: string, taskId: string): TaskDoc {
  const p = taskPaths(home, taskId).taskJson;
  return parseDoc(taskSchema, readJsonFile(p, () => notFound(`no task ${taskId} (${p} is missing)`)), p);
}

/** Durable once the stage commits (updateAnalysis does, at its end). */
export function writeTask(home: string, task: TaskDoc): void {
  writeStageJson(taskPaths(home, task.id).taskJson, task);
}

/**
 * Read-modify-write analysis.json (and anything else fn touches) under the analysis's lock; this is
 * where a stage commits: every directory the stage wrote into is fsynced here.
 */
export async function updateAnalysis<T>(home: string, id: string, fn: (a: AnalysisDoc) => T | Promise<T>): Promise<{ analysis: AnalysisDoc; value: T }> {
  const paths = analysisPaths(home, id);
  return withFileLock(paths.analysisJson + ".lock", async () => {
    const analysis = readAnalysis(home, id);
    const value = await fn(analysis);
    writeStageJson(paths.analysisJson, analysis);
    commitWrites();
    return { analysis, value };
  });
}

export function mergeErrors(into: StageErrorsDoc, add: StageErrorsDoc): void {
  into.errors.push(...add.errors);
  into.fatal.push(...add.fatal);
}
