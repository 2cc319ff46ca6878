import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, statSync, symlinkSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { inputError, notFound } from "../core/errors.ts";
import { startWriteback } from "../core/fs-native.ts";
import { type Hashes, MultiHasher, hashBytes } from "./analyze/hashes.ts";
import { POOL_MAX, holdBytes, poolBuffer, readFully } from "./analyze/target.ts";
import { GroupCommit } from "./durable.ts";
import { newAnalysisId } from "./ids.ts";
import { analysisDir, analysisPaths, analysesRoot, binariesRoot, binaryPath, taskPaths } from "./layout.ts";
import { withFileLock } from "./lock.ts";
import { analysisSchema, parseDoc, settingsSchema, taskSchema, type AnalysisDoc, type Settings, type StageErrorsDoc, type TaskDoc } from "./schemas.ts";

/**
 * The analyses and binaries of one FALC_HOME and the group commit (durable.ts) their writes go through:
 * passed to everything that reads or writes them, so what is still waiting for the commit is found.
 */
export interface Store {
  readonly home: string;
  readonly tx: GroupCommit;
  /**
   * analysis.json and task.json of analyses this store is still creating (staged): it is their only
   * writer, and what it wrote was a checked document, so a read parses the text it kept instead of
   * reading the file and checking it again. Cleared at each commit.
   */
  readonly stagedState: Map<string, string>;
}

export function openStore(home: string): Store {
  const store: Store = { home, tx: new GroupCommit(), stagedState: new Map() };
  store.tx.afterCommit(() => store.stagedState.clear());
  return store;
}

export interface StoredBinary {
  /** binaries/<h0>/<h1>/<sha256> (where it is once committed; see readablePath). */
  path: string;
  size: number;
  sha256: string;
  /** "" when only the sha256 was asked for (`digests: "sha256"`). */
  md5: string;
  sha1: string;
  sha512: string;
}

export interface StoreOptions {
  /** See storeBinary. */
  owner?: string;
  /**
   * "all" (default): md5, sha1, sha256 and sha512 in the same pass, for stages that run in this
   * process. "sha256": the name only, when the work goes to workers (`--submit`): they hash the rest
   * in parallel, rather than one submitting process doing four digests of every file.
   */
  digests?: "all" | "sha256";
}

function digestsOf(buf: Uint8Array, which: "all" | "sha256"): Hashes {
  if (which === "all") return hashBytes(buf);
  return { md5: "", sha1: "", sha256: new Bun.CryptoHasher("sha256").update(buf).digest("hex"), sha512: "" };
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

/** Where a stored binary's bytes can be read now: its temp until the commit has renamed it into binaries/. */
export function readablePath(store: Store, sha256: string): string {
  return store.tx.pendingPath(binaryPath(store.home, sha256));
}

function writeAllTo(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

let chunk: Uint8Array | undefined;

/**
 * Copy a file into binaries/<h0>/<h1>/<sha256> with its four hashes, reading it once: the bytes read
 * are hashed and those same bytes written, so the name always matches the content even when the
 * source changes meanwhile. An existing copy is kept (nothing is written). The copy is read-only and
 * appears under its name at the next commit (durable.ts), before any analysis that links to it.
 * With `owner` (the caller's scratch directory), a file up to POOL_MAX is read into the reused pool
 * buffer and held there (target.ts heldBytes), so identification and pre in this process need not
 * read it again.
 */
export function storeBinary(store: Store, src: string, opts: StoreOptions = {}): StoredBinary {
  const which = opts.digests ?? "all";
  const { home, tx } = store;
  const root = binariesRoot(home);
  ensureDirOnce(root);
  const fd = openSync(src, "r");
  let tmp: string | undefined;
  let out: number | undefined;
  try {
    const size = fstatSync(fd).size;
    let h: { size: number } & Hashes;
    if (size <= POOL_MAX) {
      const bytes = readFully(fd, poolBuffer(size, opts.owner ?? root));
      h = { size: bytes.length, ...digestsOf(bytes, which) };
      const dest = binaryPath(home, h.sha256);
      if (!tx.isPending(dest) && !existsSync(dest)) {
        tmp = incomingName(root);
        out = openSync(tmp, "wx", 0o444);
        writeAllTo(out, bytes);
        // The commit's syncfs must wait for this copy on disk: start the writing now, while the stages run.
        startWriteback(out);
        closeSync(out);
        out = undefined;
        tx.addPendingFile(tmp, dest, 0, true);
        tmp = undefined;
      }
      if (opts.owner) holdBytes([dest, readablePath(store, h.sha256)], bytes);
    } else {
      // Too big to hold: streamed through one buffer, hashed and written chunk by chunk.
      tmp = incomingName(root);
      out = openSync(tmp, "wx", 0o444);
      const buf = (chunk ??= new Uint8Array(4 << 20));
      const hasher = which === "all" ? new MultiHasher() : new Bun.CryptoHasher("sha256");
      let n = 0;
      for (;;) {
        const r = readSync(fd, buf, 0, buf.length, n);
        if (r <= 0) break;
        const view = buf.subarray(0, r);
        hasher.update(view);
        writeAllTo(out, view);
        n += r;
      }
      startWriteback(out);
      closeSync(out);
      out = undefined;
      h = { size: n, ...(hasher instanceof MultiHasher ? hasher.digest() : { md5: "", sha1: "", sha256: hasher.digest("hex"), sha512: "" }) };
      const dest = binaryPath(home, h.sha256);
      if (tx.isPending(dest) || existsSync(dest)) unlinkSync(tmp);
      else tx.addPendingFile(tmp, dest, 0, true);
      tmp = undefined;
    }
    const dest = binaryPath(home, h.sha256);
    // binaries/<h0>/<h1>/ for the commit to rename into.
    ensureDirOnce(dirname(dest));
    return { path: dest, ...h };
  } catch (e) {
    if (out !== undefined) closeSync(out);
    if (tmp) {
      try {
        unlinkSync(tmp);
      } catch {}
    }
    throw e;
  } finally {
    closeSync(fd);
  }
}

const host = hostname();
function incomingName(root: string): string {
  return join(root, `.incoming-${host}-${process.pid}-${Math.random().toString(36).slice(2)}`);
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

/**
 * Store the binary (with its four hashes unless only the sha256 is asked for: Cuckoo3 has them at submission too), make the analysis
 * directory and write analysis.json (state pending_identification). The directory is staged
 * (durable.ts) and appears in analyses/ at the next commit: at once outside a batch, at the batch's
 * next group boundary inside one. `owner`: see storeBinary.
 */
export function createAnalysis(store: Store, sub: Submission, settings: Partial<Settings> = {}, now = new Date(), opts: StoreOptions = {}): CreatedAnalysis {
  let binary: StoredBinary | null = null;
  let submitted: AnalysisDoc["submitted"];
  const parsedSettings = parseDoc(settingsSchema, settings, "settings");
  if (sub.category === "file") {
    checkSubmittedFile(sub.path);
    binary = storeBinary(store, sub.path, opts);
    // type and media_type (and md5, sha1, sha512 when only the sha256 was computed) are filled in by identification.
    submitted = { category: "file", filename: sub.filename ?? basename(sub.path), size: binary.size, md5: binary.md5, sha1: binary.sha1, sha256: binary.sha256, ...(binary.sha512 ? { sha512: binary.sha512 } : {}), media_type: "", type: "" };
  } else {
    submitted = { category: "url", url: checkSubmittedUrl(sub.url) };
  }
  const { id, final } = makeAnalysisDir(store, now);
  const paths = analysisPaths(store, id);
  if (binary) symlinkSync(relative(final, binary.path), paths.binary);
  const analysis: AnalysisDoc = {
    id,
    kind: "standard",
    state: "pending_identification",
    score: 0,
    settings: parsedSettings,
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
  writeState(store, paths.analysisJson, analysis);
  store.tx.commitWrites();
  return { analysis, binary };
}

/** A fresh id whose directory is reserved, and the staging directory the analysis is built in. */
function makeAnalysisDir(store: Store, now: Date): { id: string; final: string } {
  for (;;) {
    const id = newAnalysisId(now);
    const final = analysisDir(store.home, id);
    try {
      inDir(dirname(final), () => store.tx.stageNewDir(analysesRoot(store.home), final, id));
      return { id, final };
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

function writeState(store: Store, path: string, doc: AnalysisDoc | TaskDoc): void {
  const text = store.tx.writeStateJson(path, doc);
  if (store.tx.inStagedDir(path)) store.stagedState.set(path, text);
}

function stagedStateOf<T>(store: Store, path: string): T | undefined {
  const text = store.stagedState.get(path);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

export function readAnalysis(store: Store, id: string): AnalysisDoc {
  const p = analysisPaths(store, id).analysisJson;
  return stagedStateOf<AnalysisDoc>(store, p) ?? parseDoc(analysisSchema, readJsonFile(store.tx.pendingPath(p), () => notFound(`no analysis ${id} in ${analysesRoot(store.home)}`)), p);
}

/** A stage document (identification.json, pre.json, report.json) as a plain object, or null when absent. */
export function readStageDoc(store: Store, path: string): Record<string, unknown> | null {
  if (!store.tx.isWritten(path)) return null;
  const v = readJsonFile(store.tx.pendingPath(path), () => notFound(`${path} is missing`));
  if (!v || typeof v !== "object" || Array.isArray(v)) throw inputError(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export function readTask(store: Store, taskId: string): TaskDoc {
  const p = taskPaths(store, taskId).taskJson;
  return stagedStateOf<TaskDoc>(store, p) ?? parseDoc(taskSchema, readJsonFile(store.tx.pendingPath(p), () => notFound(`no task ${taskId} (${p} is missing)`)), p);
}

/** A state file: renamed after the stage's documents, durable once the stage commits (updateAnalysis does, at its end). */
export function writeTask(store: Store, task: TaskDoc): void {
  writeState(store, taskPaths(store, task.id).taskJson, task);
}

/**
 * Read-modify-write analysis.json (and anything else fn touches) under the analysis's lock; this is
 * where a stage commits (durable.ts): its documents first, then the states, all durable on return.
 * Analyses staged in an open batch commit at the batch's next group boundary instead.
 */
export async function updateAnalysis<T>(store: Store, id: string, fn: (a: AnalysisDoc) => T | Promise<T>): Promise<{ analysis: AnalysisDoc; value: T }> {
  const paths = analysisPaths(store, id);
  const update = async () => {
    const analysis = readAnalysis(store, id);
    const value = await fn(analysis);
    writeState(store, paths.analysisJson, analysis);
    store.tx.commitWrites();
    return { analysis, value };
  };
  // An analysis this store is still creating is in its own staging directory: nobody else can update it.
  if (store.tx.isStaged(analysisDir(store.home, id))) return update();
  return withFileLock(paths.analysisJson + ".lock", update);
}

export function mergeErrors(into: StageErrorsDoc, add: StageErrorsDoc): void {
  into.errors.push(...add.errors);
  into.fatal.push(...add.fatal);
}
