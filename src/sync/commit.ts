import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fsyncDir, fsyncDirBestEffort, writeFileAtomic } from "../core/atomic.ts";
import { badPath, parentOf, type FileStatus } from "./integrity.ts";

/**
 * Staged files go into the tree one atomic rename at a time; if any step fails, every step already
 * taken is undone, so the tree is all old or all new (Wazuh replaces files as they come and has no
 * way back). The planned steps are journaled first: a worker killed mid-commit rolls back on its next start.
 */
export type Op =
  | { t: "rm"; path: string }
  | { t: "rmdir"; path: string; mode: number; optional: boolean }
  | { t: "mkdir"; path: string; mode: number }
  | { t: "chmod"; path: string; mode: number; old: number }
  | { t: "put"; path: string; staged: string; hadOld: boolean }
  /** A directory new to this node, moved in whole from the staging tree with everything under it. */
  | { t: "putdir"; path: string; staged: string }
  /** The mode of a directory a putdir brought in (undone with it). */
  | { t: "mode"; path: string; mode: number };

export interface StagedFile {
  path: string;
  /** Absolute path of the staged copy (same filesystem as the tree). */
  staged: string;
}

export interface CommitInput {
  root: string;
  staged: StagedFile[];
  /**
   * Where the staged files sit at their own relative paths (`staged` is `stagedRoot/path`), if
   * they do: then a directory this node does not have yet is renamed into the tree in one step,
   * files and subdirectories included, instead of a mkdir and a rename per file.
   */
  stagedRoot?: string;
  dirs: FileStatus[];
  remove: FileStatus[];
  /** Paths the master has (an extra directory still holding excluded files may stay). */
  masterHas: (path: string) => boolean;
  /** Told about a problem that does not fail the commit (a state directory that could not be flushed). */
  warn?: (message: string) => void;
  /** Tests: throw before executing the op with this index. */
  failAt?: number;
  /** Tests: stop dead before this op, as a killed process would (no rollback, journal left behind). */
  crashAt?: number;
}

/** Tests: a commit stopped dead (see crashAt); the caller must leave everything as a killed process would. */
export class SimulatedCrash extends Error {}

export interface CommitStats {
  ops: number;
  written: number;
  removed: number;
  /** This node's folders the master replaced that hold entries no step removes: left as they are. */
  blocked: string[];
}

/**
 * The worker's staging, backups, journal and hash cache: beside the tree (`.<name>.falc-sync`), so the
 * tree itself holds exactly the master's files, and on the same filesystem, so renames are atomic.
 */
export const stateDir = (root: string) => join(dirname(root), `.${basename(root)}.falc-sync`);
const journalPath = (root: string) => join(stateDir(root), "journal.json");
const backupDir = (root: string) => join(stateDir(root), "backup");
const backupOf = (root: string, i: number) => join(backupDir(root), String(i));

export class CommitError extends Error {}

const depth = (p: string) => p.split("/").length;

/** lstat that says "nothing there" also when a parent is not a directory (yet). */
function lst(p: string) {
  try {
    return lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}

/** The ordered steps: removals (files, then directories deepest first), directories, files. */
export function planOps(input: Omit<CommitInput, "failAt" | "crashAt" | "root">): Op[] {
  const ops: Op[] = [];
  for (const r of input.remove) if (r.kind !== "d") ops.push({ t: "rm", path: r.path });
  const rmDirs = input.remove.filter((r) => r.kind === "d").sort((a, b) => depth(b.path) - depth(a.path));
  for (const d of rmDirs) ops.push({ t: "rmdir", path: d.path, mode: d.mode, optional: !input.masterHas(d.path) });
  const dirs = [...input.dirs].sort((a, b) => depth(a.path) - depth(b.path));
  // setuid/setgid/sticky never come from the master, whatever it sends (its side strips them too).
  for (const d of dirs) ops.push({ t: "mkdir", path: d.path, mode: d.mode & 0o777 });
  for (const f of input.staged) ops.push({ t: "put", path: f.path, staged: f.staged, hadOld: false });
  for (const o of ops) {
    const why = badPath(o.path);
    if (why) throw new CommitError(`refused path \`${o.path.slice(0, 200)}\`: ${why}`);
  }
  return ops;
}

/** Every directory between the root and `rel` must be a real directory, never a symlink out of the tree. */
function checkParents(root: string, rel: string, verified: Set<string>): void {
  const segs = rel.split("/");
  let cur = "";
  for (let i = 0; i < segs.length - 1; i++) {
    cur = cur ? `${cur}/${segs[i]}` : segs[i]!;
    if (verified.has(cur)) continue;
    const st = lst(join(root, cur));
    if (!st) throw new CommitError(`parent directory of \`${rel}\` is missing`);
    if (st.isSymbolicLink()) throw new CommitError(`refused \`${rel}\`: \`${cur}\` is a symlink`);
    if (!st.isDirectory()) throw new CommitError(`parent \`${cur}\` of \`${rel}\` is not a directory`);
    verified.add(cur);
  }
}

/** The directory's nearest ancestor (itself included) in `set`, or undefined. */
function underAny(path: string, set: Set<string>): string | undefined {
  for (let p = path; p; p = p.slice(0, Math.max(0, p.lastIndexOf("/")))) if (set.has(p)) return p;
  return undefined;
}

/**
 * A folder of this node that the master has replaced (by a file, or a folder of other mode is not
 * this case) but that holds entries no step removes (excluded, or names this node refuses) cannot
 * be removed: its replacement is left out, with everything planned under it, and named in
 * `blocked`, so the rest of the commit goes ahead instead of failing every round.
 */
function unblock(root: string, planned: Op[], blocked: string[]): Op[] {
  const rm = new Set<string>();
  const rmdir = new Set<string>();
  for (const o of planned) if (o.t === "rm") rm.add(o.path);
  else if (o.t === "rmdir") rmdir.add(o.path);
  const memo = new Map<string, boolean>();
  const empties = (dir: string): boolean => {
    let ok = memo.get(dir);
    if (ok !== undefined) return ok;
    let names: string[] = [];
    try {
      names = readdirSync(join(root, dir));
    } catch {}
    ok = names.every((n) => {
      const p = `${dir}/${n}`;
      return rm.has(p) || (rmdir.has(p) && empties(p));
    });
    memo.set(dir, ok);
    return ok;
  };
  const stuck: string[] = [];
  for (const o of planned) if (o.t === "rmdir" && !o.optional && lst(join(root, o.path))?.isDirectory() && !empties(o.path)) stuck.push(o.path);
  if (!stuck.length) return planned;
  blocked.push(...stuck);
  const under = (p: string) => stuck.some((b) => p === b || p.startsWith(`${b}/`));
  return planned.flatMap((o): Op[] => {
    if (o.t === "rmdir" && stuck.includes(o.path)) return [{ ...o, optional: true }];
    if ((o.t === "put" || o.t === "mkdir") && under(o.path)) return [];
    return [o];
  });
}

/**
 * Decide chmod vs mkdir and whether a put replaces a file, before journaling, so the journal is
 * exact. With a staging tree, each topmost new directory becomes one `putdir` followed by the
 * modes of the new directories under it (set after the move: a directory without write
 * permission could not be moved into another parent), and the files under them need no step.
 */
export function resolveOps(input: CommitInput, planned: Op[] = planOps(input), blocked: string[] = []): Op[] {
  const { root } = input;
  planned = unblock(root, planned, blocked);
  // What the removal steps take away before the other steps run: a folder that becomes a file,
  // a symlink that becomes a folder, a file that becomes a symlink's replacement. What is there
  // now is looked at only for paths no removal step clears first.
  const cleared = new Set<string>();
  for (const o of planned) if (o.t === "rm" || (o.t === "rmdir" && !o.optional)) cleared.add(o.path);
  const fresh = new Set<string>();
  // Under a cleared or new directory nothing is there yet, whatever lstat says: through a symlink
  // that a step removes it would look at another place.
  const present = (p: string) => (underAny(p, cleared) !== undefined || underAny(parentOf(p), fresh) !== undefined ? undefined : lst(join(root, p)));
  for (let i = 0; i < planned.length; i++) {
    const o = planned[i]!;
    if (o.t !== "mkdir") continue;
    const st = present(o.path);
    if (st?.isSymbolicLink()) throw new CommitError(`refused \`${o.path}\`: it is a symlink on this node`);
    if (st?.isDirectory()) planned[i] = { t: "chmod", path: o.path, mode: o.mode, old: st.mode & 0o7777 };
    else fresh.add(o.path);
  }
  const tree = input.stagedRoot;
  const ops: Op[] = [];
  const modes: Op[] = [];
  const puts: Op[] = [];
  for (const o of planned) {
    if (tree && o.t === "mkdir") {
      if (!underAny(parentOf(o.path), fresh)) ops.push({ t: "putdir", path: o.path, staged: join(tree, o.path) });
      // Deepest first: a parent that loses its search permission must not stop a child's chmod.
      modes.unshift({ t: "mode", path: o.path, mode: o.mode });
    } else if (o.t === "put") {
      if (tree && underAny(parentOf(o.path), fresh)) {
        if (o.staged !== join(tree, o.path)) throw new CommitError(`\`${o.path}\` is not staged at its place in the staging tree`);
        continue;
      }
      o.hadOld = !!present(o.path);
      puts.push(o);
    } else ops.push(o);
  }
  return [...ops, ...modes, ...puts];
}

export function commitTree(input: CommitInput): CommitStats {
  const { root } = input;
  const blocked: string[] = [];
  const ops = resolveOps(input, planOps(input), blocked);
  mkdirSync(backupDir(root), { recursive: true, mode: 0o700 });
  writeFileAtomic(journalPath(root), JSON.stringify({ v: 1, ops }), 0o600);
  const verified = new Set<string>();
  const touched = new Set<string>();
  let done = 0;
  const stats: CommitStats = { ops: ops.length, written: blocked.length ? input.staged.filter((f) => !blocked.some((b) => f.path === b || f.path.startsWith(`${b}/`))).length : input.staged.length, removed: 0, blocked };
  try {
    for (let i = 0; i < ops.length; i++) {
      if (input.failAt === i) throw new CommitError(`injected failure at step ${i}`);
      if (input.crashAt === i) throw new SimulatedCrash(`simulated crash at step ${i}`);
      const o = ops[i]!;
      const abs = join(root, o.path);
      checkParents(root, o.path, verified);
      touched.add(dirname(abs));
      switch (o.t) {
        case "rm":
          renameSync(abs, backupOf(root, i));
          stats.removed++;
          break;
        case "rmdir":
          try {
            rmdirSync(abs);
            stats.removed++;
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (o.optional && (code === "ENOTEMPTY" || code === "EEXIST")) break;
            if (code !== "ENOENT") throw e;
          }
          break;
        case "mkdir":
          mkdirSync(abs, { mode: o.mode });
          chmodSync(abs, o.mode); // the umask trimmed mkdir's mode
          verified.add(o.path);
          break;
        case "chmod":
          if (o.old !== o.mode) chmodSync(abs, o.mode);
          verified.add(o.path);
          break;
        case "mode":
          chmodSync(abs, o.mode);
          break;
        case "put":
          if (o.hadOld) renameSync(abs, backupOf(root, i));
          renameSync(o.staged, abs);
          break;
        case "putdir":
          // A directory that appeared since the plan was made is not replaced: rename would fail on a non-empty one anyway.
          if (lst(abs)) throw new CommitError(`\`${o.path}\` appeared on this node during the sync`);
          renameSync(o.staged, abs);
          verified.add(o.path);
          break;
      }
      done = i + 1;
    }
    // A directory a step removed is gone; its removal is made durable with its parent, which is here too.
    for (const d of touched) if (lst(d)?.isDirectory()) fsyncDir(d);
  } catch (e) {
    if (e instanceof SimulatedCrash) throw e;
    rollback(root, ops.slice(0, done + 1));
    throw e instanceof CommitError ? e : new CommitError(`commit failed at \`${ops[done]?.path}\`: ${(e as Error).message}`);
  }
  // The commit point: without the journal nothing is rolled back any more.
  unlinkSync(journalPath(root));
  // The tree is new either way; a journal that came back after a crash would only roll it back to old.
  fsyncDirBestEffort(stateDir(root), input.warn ?? (() => {}));
  rmSync(backupDir(root), { recursive: true, force: true });
  return stats;
}

/**
 * Undo steps in reverse. Each undo checks what is on disk, so it is safe both for the steps a
 * failed commit took and, after a crash, for a journal whose steps may or may not have run.
 */
export function rollback(root: string, ops: Op[]): void {
  for (let i = ops.length - 1; i >= 0; i--) {
    const o = ops[i]!;
    const abs = join(root, o.path);
    const backup = backupOf(root, i);
    // Journal paths were checked before they were written; a journal read back from disk is checked again.
    if (typeof o.path !== "string" || badPath(o.path)) continue;
    try {
      switch (o.t) {
        case "rm":
          if (lst(backup)) renameSync(backup, abs);
          break;
        case "rmdir":
          if (!lst(abs)) {
            mkdirSync(abs, { mode: o.mode });
            chmodSync(abs, o.mode);
          }
          break;
        case "mkdir":
          if (lst(abs)?.isDirectory()) rmdirSync(abs);
          break;
        case "chmod":
          if (lst(abs)?.isDirectory()) chmodSync(abs, o.old);
          break;
        case "put":
          if (lst(backup)) renameSync(backup, abs);
          // Only a put that ran left its file here: its staged copy is gone. Otherwise what is at
          // the path is this node's old entry (one an earlier step was to clear), and stays.
          else if (!o.hadOld && typeof o.staged === "string" && !lst(o.staged) && lst(abs)?.isFile()) unlinkSync(abs);
          break;
        case "putdir":
          // Only moved in if the staged copy is gone; back it goes (the staging area is removed after).
          if (typeof o.staged === "string" && lst(abs)?.isDirectory() && !lst(o.staged)) {
            try {
              renameSync(abs, o.staged);
            } catch {
              rmSync(abs, { recursive: true, force: true });
            }
          }
          break;
      }
    } catch {
      // Keep undoing the rest; one stuck step must not leave more of the tree new.
    }
  }
}

/** A journal that exists but cannot be read: the tree may be half-committed and only the backups can tell. */
export class JournalError extends Error {}

/**
 * On start: a journal left by a commit that never finished is rolled back. Returns whether it was.
 * A journal that cannot be read (damaged, truncated, not ours) is never taken as empty: that would
 * delete the backups that are the only way back. It throws JournalError and touches nothing,
 * unless `setAside`: then the journal and backups are moved aside (named in the result) for a
 * person to look at, and the tree is left for the next sync to repair from the master.
 */
export function recoverTree(root: string, setAside = false): boolean | { journal: string; backups: string } {
  const j = journalPath(root);
  let rolled: boolean | { journal: string; backups: string } = false;
  if (existsSync(j)) {
    let ops: Op[] | null = null;
    let why = "";
    try {
      const doc = JSON.parse(readFileSync(j, "utf8")) as { v?: unknown; ops?: unknown };
      if (doc?.v === 1 && Array.isArray(doc.ops) && doc.ops.every((o) => o && typeof o === "object" && typeof (o as Op).t === "string")) ops = doc.ops as Op[];
      else why = "not a falc commit journal";
    } catch (e) {
      why = (e as Error).message;
    }
    if (ops) {
      rollback(root, ops);
      unlinkSync(j);
      rolled = true;
    } else if (!setAside) {
      throw new JournalError(
        `the commit journal ${j} cannot be read (${why.slice(0, 200)}): the tree may hold part of an unfinished commit; the backups are kept in ${backupDir(root)}. Run \`falc sync worker --recover\` to set both aside and resync from the master`,
      );
    } else {
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      const journal = `${j}.unreadable-${stamp}`;
      const backups = `${backupDir(root)}.kept-${stamp}`;
      renameSync(j, journal);
      if (existsSync(backupDir(root))) renameSync(backupDir(root), backups);
      rolled = { journal, backups };
    }
  }
  rmSync(backupDir(root), { recursive: true, force: true });
  rmSync(join(stateDir(root), "staging"), { recursive: true, force: true });
  return rolled;
}
