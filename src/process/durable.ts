/**
 * Group commit for analysis storage: what a stage, or a batch of new analyses, writes appears under
 * its final names only once its bytes are durable, for three syncfs calls in all instead of an
 * fsync per file and per directory (~13 per analysis before, at 0.2-4 ms each on a shared disk).
 *
 * The guarantee (layout.ts states it for readers):
 *  1. A file under its final name is complete: it is written under a temporary name and renamed
 *     only after a syncfs has made its bytes durable. No file is ever seen half-written, after a
 *     process crash or a power cut.
 *  2. What a state refers to is durable before the state: stage documents and stored binaries
 *     (phase 0) are renamed and synced before analysis.json / task.json and new analysis
 *     directories (phase 1) are renamed. After a crash an analysis's state never names a stage
 *     whose document is missing, nor does a `binary` link point to a missing copy.
 *  3. When commit returns, all of it is durable. A stage is reported done (its queue task finished,
 *     the next stage queued, a summary printed) only after its commit.
 *
 * Commit: temps written without fsync → syncfs (all their data) → phase-0 renames → syncfs →
 * phase-1 renames → syncfs. Without syncfs (not Linux, no libc, no `sync`) each file and directory
 * is fsynced instead, in the same order.
 *
 * New analyses are built in a staging directory (analyses/.staging/<pid>/<id>, at the same depth as
 * analyses/YYYYMMDD/XXXXXX so the relative `binary` link holds) and renamed over their reserved
 * (empty) directory in whole, in phase 1. Files inside it are written atomically but without fsync:
 * nobody sees them before the commit's first syncfs has made all of them durable. `falc process`
 * keeps them staged over a batch of files (inBatch) and commits about once a second; a stage on an
 * existing analysis (a worker's identification, pre or post) commits when it updates analysis.json.
 *
 * A process that dies leaves its temps and staging directories behind, never under a final name:
 * sweep.ts removes those of dead processes.
 *
 * All of it is one object, GroupCommit, held by a storage handle (storage.ts Store) and passed to
 * whatever reads or writes analyses: no transaction state lives in this module.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { AsyncLocalStorage } from "node:async_hooks";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { canRenameNoReplace, fsyncPath, renameNoReplace, syncFs } from "../core/fs-native.ts";

type Phase = 0 | 1;

interface PendingFile {
  tmp: string;
  dest: string;
  phase: Phase;
  /** Keep an existing file under `dest` instead of replacing it (content-addressed binaries). */
  keepExisting: boolean;
  seq: number;
}

interface StagedDir {
  final: string;
  staging: string;
  /** The final name was reserved with mkdir (no renameat2 here): the commit renames over it. */
  reserved: boolean;
  /** A write into it failed: it is not published (see write()). */
  broken: boolean;
}

function tmpName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
}

function writeAll(path: string, data: string | Uint8Array, mode: number): void {
  const fd = openSync(path, "wx", mode);
  try {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {}
    throw e;
  }
  closeSync(fd);
}

const host = hostname();

/** analyses/.staging/<owner>/<id>: <owner> is `<host>-<pid>` (sweep.ts removes those of dead processes). */
export const STAGING_DIR = ".staging";

function stagingRoot(analysesRoot: string): string {
  return join(analysesRoot, STAGING_DIR, `${host}-${process.pid}`);
}

/** One directory per filesystem the pending writes touch: syncfs flushes a whole filesystem. */
function filesystems(dirs: Iterable<string>): string[] {
  const byDev = new Map<number, string>();
  for (const d of dirs) {
    try {
      const dev = statSync(d).dev;
      if (!byDev.has(dev)) byDev.set(dev, d);
    } catch {}
  }
  return [...byDev.values()];
}

/** Every file and directory under a staging directory (the fsync fallback's work list). */
function walk(dir: string, out: string[]): string[] {
  out.push(dir);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * One group commit: the writes waiting for it, the analyses it is creating, its batch. The storage
 * handle (storage.ts's Store) holds one and passes it to everything that writes or reads what is
 * pending; nothing of it lives in module state.
 */
export class GroupCommit {
  /** Final path → the write waiting for the next commit (a later write of the same path replaces it). */
  private readonly files = new Map<string, PendingFile>();
  /** Final analysis directory → its staging directory, until committed. */
  private readonly staged = new Map<string, StagedDir>();
  /** Staging directory → the same record. */
  private readonly byStaging = new Map<string, StagedDir>();
  /** Staging roots (analyses/.staging/<pid>) in use, with a trailing slash. */
  private readonly stagingRoots = new Set<string>();
  private readonly madeRoots = new Set<string>();
  private readonly commitListeners: (() => void)[] = [];
  private seq = 0;
  private batchDepth = 0;
  private batchStarted = 0;
  /** Test hook: sees every step of a commit ("sync", "rename <dest>", "publish <dir>"), in order. */
  trace: ((step: string) => void) | null = null;
  readonly stats = { commits: 0, syncs: 0, fallbackFsyncs: 0 };

  /** The staged analysis directory `path` is in, if any. */
  private stagedFor(path: string): StagedDir | undefined {
    for (const root of this.stagingRoots) {
      if (!path.startsWith(root)) continue;
      const slash = path.indexOf("/", root.length);
      return this.byStaging.get(slash < 0 ? path : path.slice(0, slash));
    }
    return undefined;
  }

  private write(path: string, data: string | Uint8Array, phase: Phase, mode: number): void {
    const st = this.stagedFor(path);
    if (st) {
      // Straight to its name, no temp and no fsync: nobody sees the directory before the commit has
      // made all of it durable, and creating files is the costly part on some disks (up to 1 ms of
      // kernel time each here). A write that fails leaves the analysis unpublished, never half-written.
      try {
        const fd = openSync(path, "w", mode);
        try {
          const buf = typeof data === "string" ? Buffer.from(data) : data;
          let off = 0;
          while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
        } finally {
          closeSync(fd);
        }
      } catch (e) {
        st.broken = true;
        throw e;
      }
      return;
    }
    const tmp = tmpName(path);
    writeAll(tmp, data, mode);
    this.addPendingFile(tmp, path, phase);
  }

  /** A stage document (identification.json, pre.json, report.json, report.html, a reporter's file): phase 0. */
  writeStageFile(path: string, data: string | Uint8Array, mode = 0o644): void {
    this.write(path, data, 0, mode);
  }

  writeStageJson(path: string, value: unknown): void {
    this.writeStageFile(path, JSON.stringify(value, null, 2) + "\n");
  }

  /** A state file (analysis.json, task.json): phase 1, after what it refers to. Returns the text written. */
  writeStateJson(path: string, value: unknown): string {
    const text = JSON.stringify(value, null, 2) + "\n";
    this.write(path, text, 1, 0o644);
    return text;
  }

  /**
   * A file the caller wrote itself under `tmp` (a binary copied as it was hashed), renamed to `dest`
   * at the next commit. With keepExisting, a `dest` already there is kept and the temp dropped.
   */
  addPendingFile(tmp: string, dest: string, phase: Phase, keepExisting = false): void {
    const prev = this.files.get(dest);
    if (prev) {
      try {
        unlinkSync(prev.tmp);
      } catch {}
    }
    this.files.set(dest, { tmp, dest, phase, keepExisting, seq: this.seq++ });
    if (!this.batchStarted) this.batchStarted = Date.now();
  }

  /** Where the current content of `path` is: its temp while a write is waiting for the commit. */
  pendingPath(path: string): string {
    return this.files.get(path)?.tmp ?? path;
  }

  isPending(path: string): boolean {
    return this.files.has(path);
  }

  /** Written: on disk, or waiting for the commit. */
  isWritten(path: string): boolean {
    return this.files.has(path) || existsSync(path);
  }

  /** The directory to use for an analysis directory: its staging directory until it is committed. */
  liveDir(finalDir: string): string {
    return this.staged.get(finalDir)?.staging ?? finalDir;
  }

  isStaged(finalDir: string): boolean {
    return this.staged.has(finalDir);
  }

  /** Whether `path` is inside an analysis directory this commit is still creating. */
  inStagedDir(path: string): boolean {
    return this.stagedFor(path) !== undefined;
  }

  /** Called after every commit (caches of staged files drop their entries). */
  afterCommit(listener: () => void): void {
    this.commitListeners.push(listener);
  }

  /**
   * Make the staging directory a new analysis is built in and return it. The final name must be free:
   * it is checked here and the commit renames with RENAME_NOREPLACE, so no second directory is made
   * to hold the name. Without renameat2 the final directory is made empty now (holding the name) and
   * the commit renames over it. An EEXIST from here means the id is taken: the caller picks another.
   */
  stageNewDir(analysesRoot: string, finalDir: string, name: string): string {
    const reserved = !canRenameNoReplace();
    if (reserved) mkdirSync(finalDir);
    else if (existsSync(finalDir)) throw Object.assign(new Error(`${finalDir} exists`), { code: "EEXIST" });
    const root = stagingRoot(analysesRoot);
    const dir = join(root, name);
    try {
      if (!this.madeRoots.has(root)) {
        mkdirSync(root, { recursive: true });
        this.madeRoots.add(root);
      }
      try {
        mkdirSync(dir);
      } catch (e) {
        // The root was removed meanwhile (an empty one is, after each commit).
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        mkdirSync(root, { recursive: true });
        mkdirSync(dir);
      }
    } catch (e) {
      if (reserved) rmdirSync(finalDir);
      throw e;
    }
    this.stagingRoots.add(root + "/");
    const rec: StagedDir = { final: finalDir, staging: dir, reserved, broken: false };
    this.staged.set(finalDir, rec);
    this.byStaging.set(dir, rec);
    if (!this.batchStarted) this.batchStarted = Date.now();
    return dir;
  }

  /** Everything waiting, as a mark to discard back to (a stage that failed before its commit). */
  mark(): number {
    return this.seq;
  }

  /** Drop the temps written since `m` (staged directories stay: their files are consistent at every step). */
  discardSince(m: number): void {
    for (const [dest, f] of this.files) {
      if (f.seq < m) continue;
      this.files.delete(dest);
      try {
        unlinkSync(f.tmp);
      } catch {}
    }
  }

  private syncAll(fsDirs: string[], fallback: () => string[]): void {
    this.trace?.("sync");
    let ok = true;
    for (const d of fsDirs) {
      this.stats.syncs++;
      if (!syncFs(d)) ok = false;
    }
    if (ok) return;
    for (const p of fallback()) {
      this.stats.fallbackFsyncs++;
      fsyncPath(p);
    }
  }

  /** Make every pending write durable and visible, in the order of the guarantee above. */
  commitNow(): void {
    if (!this.files.size && !this.staged.size) return;
    this.stats.commits++;
    const list = [...this.files.values()].sort((a, b) => a.seq - b.seq);
    const all = [...this.staged.values()];
    this.files.clear();
    this.staged.clear();
    this.byStaging.clear();
    // A staged analysis whose write failed is dropped, not published half-written (its error was thrown then).
    for (const d of all.filter((x) => x.broken)) {
      rmSync(d.staging, { recursive: true, force: true });
      if (d.reserved) {
        try {
          rmdirSync(d.final);
        } catch {}
      }
    }
    const dirs = all.filter((x) => !x.broken).map((x) => [x.final, x.staging, x] as const);
    this.batchStarted = 0;
    const phase0 = list.filter((f) => f.phase === 0);
    const phase1 = list.filter((f) => f.phase === 1);
    const fsDirs = filesystems([...list.map((f) => dirname(f.dest)), ...dirs.map(([, s]) => s)]);

    // 1. The data of every temp and staged file.
    this.syncAll(fsDirs, () => [...list.map((f) => f.tmp), ...dirs.flatMap(([, s]) => walk(s, []))]);
    let failure: unknown;
    const renamed = (f: PendingFile) => {
      try {
        this.trace?.(`rename ${f.dest}`);
        if (f.keepExisting && existsSync(f.dest)) unlinkSync(f.tmp);
        else renameSync(f.tmp, f.dest);
      } catch (e) {
        failure ??= e;
        try {
          unlinkSync(f.tmp);
        } catch {}
      }
    };
    // 2. What states refer to, then a barrier.
    phase0.forEach(renamed);
    if (phase0.length && (phase1.length || dirs.length)) this.syncAll(fsDirs, () => [...new Set(phase0.map((f) => dirname(f.dest)))]);
    // 3. The states and new analyses, then durable.
    for (const [finalDir, stagingDir, rec] of dirs) {
      try {
        this.trace?.(`publish ${finalDir}`);
        if (rec.reserved) renameSync(stagingDir, finalDir);
        else {
          let r = renameNoReplace(stagingDir, finalDir);
          // The filesystem cannot say (no RENAME_NOREPLACE there): look, then rename.
          if (r === null) r = existsSync(finalDir) ? "exists" : (renameSync(stagingDir, finalDir), "renamed");
          if (r === "exists") {
            // Another process took the same random id since it was checked (about 1 in 10^9): this
            // one stays in its staging directory, which the error names, rather than overwrite anything.
            failure ??= new Error(`analysis directory ${finalDir} was taken meanwhile; this analysis is left in ${stagingDir}`);
          }
        }
      } catch (e) {
        failure ??= e;
      }
    }
    phase1.forEach(renamed);
    this.syncAll(fsDirs, () => [...new Set([...phase0, ...phase1].map((f) => dirname(f.dest)).concat(dirs.flatMap(([d]) => [dirname(d), dirname(dirname(d))])))]);
    // The staging root, now empty (a failed rename left its directory: kept for a look).
    for (const root of new Set(all.map((d) => dirname(d.staging)))) {
      try {
        rmdirSync(root);
        this.madeRoots.delete(root);
      } catch {}
    }
    for (const l of this.commitListeners) l();
    if (failure) throw failure;
  }

  /**
   * After a stage's writes: commit, unless they all went into staged analyses of an open batch
   * (those commit together at the batch's next group boundary).
   */
  commitWrites(): void {
    // In a batch, new analyses (staged) and the binaries they store wait for the group's commit;
    // anything else (a stage on a published analysis) commits now, and takes the group with it.
    if (this.batchDepth > 0 && [...this.files.values()].every((f) => f.keepExisting)) return;
    this.commitNow();
  }

  /**
   * Run fn with the commits of new analyses deferred to group boundaries (groupBoundary()) and the
   * end; whatever fn completed is committed even when it throws.
   */
  async inBatch<T>(fn: () => Promise<T>): Promise<T> {
    this.batchDepth++;
    try {
      return await fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) this.commitNow();
    }
  }

  /** Between two items of a batch: commit when the group has been open for `ms` or more; true when it did. */
  groupBoundary(ms: number): boolean {
    if (!this.files.size && !this.staged.size) return false;
    if (this.batchDepth > 0 && Date.now() - this.batchStarted < ms) return false;
    this.commitNow();
    return true;
  }
}

/**
 * The group commit of the stage running in this async context, for writes that come through the
 * plugin API (a reporter's `api.writeFileAtomic`): plugin modules get the API once, at load, and the
 * stage that runs them (flow.ts) binds its Store's commit around the run.
 */
const stageCommit = new AsyncLocalStorage<GroupCommit>();

export function withStageCommit<T>(tx: GroupCommit, fn: () => T): T {
  return stageCommit.run(tx, fn);
}

/** A reporter's file: into the running stage's commit (see withStageCommit). */
export function writeReporterFile(path: string, data: string | Uint8Array): void {
  const tx = stageCommit.getStore();
  if (!tx) throw new Error(`writeFileAtomic(${path}) outside a processing stage`);
  tx.writeStageFile(path, data);
}
