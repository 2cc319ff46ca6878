import { existsSync, lstatSync, readdirSync, readFileSync, type Stats } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.ts";
import { hashFile } from "../core/hash-file.ts";
import type { WireStatus } from "./protocol.ts";

/**
 * File status of a tree, Wazuh's integrity check: path, kind, size, mode, mtime and BLAKE2b-256 of
 * the content. A hash is recomputed only when size, mtime or inode changed since it was last taken.
 */
export interface FileStatus {
  path: string;
  kind: "f" | "d" | "l";
  size: number;
  mode: number;
  mtime: number;
  hash: string;
}


export function toWire(s: FileStatus): WireStatus {
  return [s.path, s.kind, s.size, s.mode, s.mtime, s.hash];
}

export function fromWire(w: WireStatus): FileStatus {
  return { path: w[0], kind: w[1], size: w[2], mode: w[3], mtime: w[4], hash: w[5] };
}

/**
 * Why a relative path from the network may not be used, or null when it may: no absolute paths,
 * no `..` or `.` segments, no empty segments, no NUL or backslash.
 */
export function badPath(p: string): string | null {
  if (!p) return "empty path";
  if (p.length > 4096) return "path too long";
  if (p.includes("\0")) return "NUL in path";
  if (p.includes("\\")) return "backslash in path";
  if (p.startsWith("/")) return "absolute path";
  // Segment by segment without splitting: a plan checks 10,000 paths before the first byte is written.
  for (let start = 0; ; ) {
    const slash = p.indexOf("/", start);
    const end = slash < 0 ? p.length : slash;
    const len = end - start;
    if (len === 0) return "empty path segment";
    if (p.charCodeAt(start) === 46 && (len === 1 || (len === 2 && p.charCodeAt(start + 1) === 46))) return `\`${p.slice(start, end)}\` in path`;
    // At most 3 UTF-8 bytes per UTF-16 unit: only a segment over 85 units can pass 255 bytes.
    if (len > 85 && Buffer.byteLength(p.slice(start, end)) > 255) return "path segment too long";
    if (slash < 0) return null;
    start = slash + 1;
  }
}

/**
 * Exclude patterns: a pattern without `/` matches a name at any depth (`*.tmp`, `.git`);
 * one with `/` matches the whole relative path (`logs/*.log`). An excluded directory excludes its subtree.
 */
export class Excluder {
  private globs: { glob: InstanceType<typeof Bun.Glob>; base: boolean }[];
  constructor(readonly patterns: string[]) {
    this.globs = patterns.map((p) => ({ glob: new Bun.Glob(p.replace(/^\/+|\/+$/g, "")), base: !p.replace(/^\/+|\/+$/g, "").includes("/") }));
  }

  excluded(path: string, name: string): boolean {
    for (const g of this.globs) if (g.glob.match(g.base ? name : path)) return true;
    return false;
  }
}

interface CacheEntry {
  size: number;
  mtime: number;
  ino: number;
  hash: string;
}

/**
 * A file whose mtime is this close to now may be written again within the same timestamp tick
 * (ext4's clock moves every few ms, some filesystems' every second or two) without its size or
 * mtime changing: its hash is not kept, so the next walk hashes it again (git's "racy" rule).
 */
const RACY_MS = 2000;
const racy = (mtimeMs: number) => mtimeMs > Date.now() - RACY_MS;

export function modeOf(st: Stats): number {
  // setuid/setgid/sticky bits are never carried between nodes.
  return st.mode & 0o777;
}

/** An entry a walk leaves out, and why: its name breaks the path rules, or its type is not synced. */
export interface Refused {
  path: string;
  why: string;
}

const specialKind = (st: Stats) => (st.isFIFO() ? "fifo" : st.isSocket() ? "socket" : st.isCharacterDevice() || st.isBlockDevice() ? "device" : "special file");

/**
 * Names in `dir` that are not valid UTF-8, by the lossy string readdir gives for them, each with a
 * printable form (bad bytes as \xNN). Paths travel as UTF-8 JSON: such a name cannot be carried,
 * so it is refused loudly instead of being synced under a mangled name or skipped in silence.
 */
function undecodable(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const strict = new TextDecoder("utf-8", { fatal: true });
  for (const b of readdirSync(dir, { encoding: "buffer" })) {
    try {
      strict.decode(b);
    } catch {
      const shown = [...b].map((c) => (c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`)).join("");
      out.set(b.toString("utf8"), shown);
    }
  }
  return out;
}

export interface ScanResult {
  /** Entries left out of `files`, with the reason (each named in a warning and in status). */
  refused: Refused[];
  /** In walk order (names sorted at every level), the same on every node for the same tree. */
  files: Map<string, FileStatus>;
  /** BLAKE2b-256 over every entry's path, kind, mode, size and hash: equal digests, equal trees. */
  digest: string;
  startedAt: number;
  hashed: number;
  hashedBytes: number;
  /** The exclude patterns the walk applied. */
  exclude: string[];
}

/**
 * Walks a tree and keeps hashes between walks. With `cachePath` the cache also survives restarts
 * (a worker started by cron re-checks 10,000 files by stat alone).
 */
export class TreeScanner {
  private cache = new Map<string, CacheEntry>();
  private dirty = false;
  /** The exclude patterns saved with the cache (null: none saved). */
  savedExclude: string[] | null = null;

  constructor(
    readonly root: string,
    public excluder: Excluder,
    private cachePath?: string,
    /** The master leaves symlinks out of its status entirely (they are never synced). */
    private skipLinks = false,
    /**
     * The master strips setuid/setgid/sticky from what it sends; a worker reports them (false
     * here), so a bit set on its side differs from the master's mode and is taken away.
     */
    private stripSpecial = true,
  ) {
    if (cachePath && existsSync(cachePath)) {
      try {
        const doc = JSON.parse(readFileSync(cachePath, "utf8")) as { v: number; exclude?: unknown; entries: [string, number, number, number, string][] };
        if (doc.v === 1) for (const [p, size, mtime, ino, hash] of doc.entries) this.cache.set(p, { size, mtime, ino, hash });
        if (Array.isArray(doc.exclude) && doc.exclude.every((x) => typeof x === "string")) this.savedExclude = doc.exclude;
      } catch {
        // A damaged cache only costs a rehash.
      }
    }
  }

  /** Tell the cache what a file now is without hashing it again (the worker just wrote and verified it). */
  remember(path: string, st: { size: number; mtimeMs: number; ino: number }, hash: string): void {
    if (racy(st.mtimeMs)) return;
    this.cache.set(path, { size: st.size, mtime: st.mtimeMs, ino: st.ino, hash });
    this.dirty = true;
  }

  async scan(): Promise<ScanResult> {
    // One excluder for the whole walk, even if it is replaced meanwhile.
    const excluder = this.excluder;
    const startedAt = Date.now();
    const files = new Map<string, FileStatus>();
    const refused: Refused[] = [];
    let hashed = 0;
    let hashedBytes = 0;
    let lastYield = Date.now();
    const walk = async (rel: string): Promise<void> => {
      const abs = rel ? join(this.root, rel) : this.root;
      let names: string[];
      try {
        names = readdirSync(abs);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
        throw e;
      }
      names.sort();
      const notUtf8 = names.some((n) => n.includes("\uFFFD")) ? undecodable(abs) : null;
      for (const name of names) {
        const p = rel ? `${rel}/${name}` : name;
        if (excluder.excluded(p, name)) continue;
        const raw = notUtf8?.get(name);
        const why = raw !== undefined ? "name is not valid UTF-8" : badPath(p);
        if (why) {
          refused.push({ path: raw !== undefined ? `${rel ? `${rel}/` : ""}${raw}` : p, why });
          continue;
        }
        let st: Stats;
        try {
          st = lstatSync(join(abs, name));
        } catch {
          continue; // gone since readdir
        }
        if (st.isSymbolicLink()) {
          if (this.skipLinks) {
            this.onLink?.(p);
            continue;
          }
          files.set(p, { path: p, kind: "l", size: 0, mode: 0, mtime: st.mtimeMs, hash: "" });
        } else if (st.isDirectory()) {
          files.set(p, { path: p, kind: "d", size: 0, mode: this.modeOf(st), mtime: 0, hash: "" });
          await walk(p);
        } else if (st.isFile()) {
          const c = this.cache.get(p);
          let hash: string;
          if (c && c.size === st.size && c.mtime === st.mtimeMs && c.ino === st.ino) hash = c.hash;
          else {
            try {
              hash = hashFile(join(abs, name), ["blake2b256"]).blake2b256;
            } catch {
              continue;
            }
            hashed++;
            hashedBytes += st.size;
            if (racy(st.mtimeMs)) this.cache.delete(p);
            else this.cache.set(p, { size: st.size, mtime: st.mtimeMs, ino: st.ino, hash });
            this.dirty = true;
          }
          files.set(p, { path: p, kind: "f", size: st.size, mode: this.modeOf(st), mtime: st.mtimeMs, hash });
        } else refused.push({ path: p, why: `a ${specialKind(st)} is not synced` });
        if (Date.now() - lastYield > 4) {
          // Let keep-alives, other connections and a handshake in progress through during a long walk or hash.
          await new Promise((r) => setImmediate(r));
          lastYield = Date.now();
        }
      }
    };
    await walk("");
    for (const k of this.cache.keys()) if (!files.has(k)) {
      this.cache.delete(k);
      this.dirty = true;
    }
    return { files, refused, digest: statusDigest(files.values()), startedAt, hashed, hashedBytes, exclude: excluder.patterns };
  }

  private modeOf(st: Stats): number {
    return this.stripSpecial ? modeOf(st) : st.mode & 0o7777;
  }

  /** Called for each symlink skipped with `skipLinks`. */
  onLink: ((path: string) => void) | null = null;

  saveCache(): void {
    const exclude = this.excluder.patterns;
    if (!this.cachePath || (!this.dirty && sameList(this.savedExclude, exclude))) return;
    const entries = [...this.cache].map(([p, c]) => [p, c.size, c.mtime, c.ino, c.hash]);
    writeFileAtomic(this.cachePath, JSON.stringify({ v: 1, exclude, entries }), 0o600);
    this.dirty = false;
    this.savedExclude = exclude;
  }
}

export function sameList(a: readonly string[] | null, b: readonly string[] | null): boolean {
  return !!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]);
}

export interface Diff {
  /** On the master, not on the worker. */
  missing: FileStatus[];
  /** On both, but different (content, mode or kind). */
  shared: FileStatus[];
  /** On the worker, not on the master. */
  extra: FileStatus[];
}

function same(a: FileStatus, b: FileStatus): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "d") return a.mode === b.mode;
  if (a.kind === "l") return false; // links are never synced: a worker's link is always replaced
  return a.hash === b.hash && a.mode === b.mode && a.size === b.size;
}

/** Master's view against the worker's, as Wazuh's compare_files: missing, shared (differing), extra. */
export function compareStatus(master: Map<string, FileStatus>, worker: Map<string, FileStatus>): Diff {
  const d: Diff = { missing: [], shared: [], extra: [] };
  for (const [p, m] of master) {
    if (m.kind === "l") continue;
    const w = worker.get(p);
    if (!w) d.missing.push(m);
    else if (!same(m, w)) d.shared.push(m);
  }
  for (const [p, w] of worker) if (!master.has(p) || master.get(p)!.kind === "l") d.extra.push(w);
  return d;
}

export const parentOf = (p: string) => {
  const i = p.lastIndexOf("/");
  return i < 0 ? "" : p.slice(0, i);
};

/**
 * One digest per directory over the entries directly in it ("" is the root), so two nodes can find
 * the few directories that differ without listing all 10,000 files.
 */
export function dirDigests(files: Iterable<FileStatus>): Map<string, string> {
  const hs = new Map<string, InstanceType<typeof Bun.CryptoHasher>>();
  for (const f of files) {
    const parent = parentOf(f.path);
    let h = hs.get(parent);
    if (!h) hs.set(parent, (h = new Bun.CryptoHasher("blake2b256")));
    h.update(`${f.path}\0${f.kind}\0${f.mode}\0${f.size}\0${f.hash}\n`);
  }
  const out = new Map<string, string>();
  for (const [d, h] of hs) out.set(d, h.digest("hex"));
  return out;
}

/** Directories whose entries differ between two nodes' digests (present on one side only included). */
export function differingDirs(a: Map<string, string>, b: Map<string, string>): string[] {
  const out = new Set<string>();
  for (const [d, h] of a) if (b.get(d) !== h) out.add(d);
  for (const d of b.keys()) if (!a.has(d)) out.add(d);
  return [...out].sort();
}

/** Digest of a status list in the order given (walk order on both nodes). */
export function statusDigest(files: Iterable<FileStatus>): string {
  const h = new Bun.CryptoHasher("blake2b256");
  for (const f of files) h.update(`${f.path}\0${f.kind}\0${f.mode}\0${f.size}\0${f.hash}\n`);
  return h.digest("hex");
}

/** One digest of a whole tree's status (paths, kinds, modes, hashes), for tests and status. */
export function treeDigest(files: Iterable<FileStatus>): string {
  const h = new Bun.CryptoHasher("blake2b256");
  const list = [...files].filter((f) => f.kind !== "l").sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const f of list) h.update(`${f.path}\0${f.kind}\0${f.mode}\0${f.hash}\n`);
  return h.digest("hex");
}
