import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import { constants, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { badPath, fromWire, parentOf, type FileStatus } from "./integrity.ts";
import { stateDir, type StagedFile } from "./commit.ts";
import { encodeJson, type Plan } from "./protocol.ts";
import { StagingWriter, type Segment, type StagedStat } from "./stager.ts";
import type { Session } from "./session.ts";

/**
 * The file data of one sync: the plan (`sync_start`), then the bytes of every planned file back to
 * back, cut into blocks that are each compressed on their own (`sync_data`, sent without waiting
 * for acks, only for the socket to drain), then `sync_end`. The worker writes them into a staging
 * area and verifies each file's BLAKE2b-256 before anything touches the tree.
 */
const RAW = 0;
const ZSTD = 1;
/** Room for the codec byte so a block fills one frame exactly. */
const BLOCK_SLACK = 64;

export class TransferError extends Error {}


export interface SendStats {
  bytes: number;
  chunks: number;
  wireBytes: number;
}

export type CompressMode = "auto" | "zstd" | "none";

/**
 * Whether file data to `remote` is compressed. Over loopback the bytes never leave the machine:
 * moving them costs a memory copy, while zstd costs CPU on both ends of the same machine (about
 * 0.7 s to compress and 0.25 s to decompress 200 MB here), so `auto` sends loopback data raw.
 */
export function compressFor(mode: CompressMode, remote: string | undefined): boolean {
  if (mode !== "auto") return mode === "zstd";
  const a = (remote ?? "").replace(/^::ffff:/i, "");
  return !(a.startsWith("127.") || a === "::1");
}

/**
 * Incompressible data (archives, images) costs zstd time for nothing: after a few blocks that did
 * not shrink, blocks go raw for a while before compression is tried again.
 */
class Compressor {
  private skip = 0;
  private misses = 0;
  constructor(private on: boolean) {}
  encode(block: Buffer): Buffer[] {
    if (!this.on) return [CODEC_RAW, block];
    if (this.skip > 0) {
      this.skip--;
      return [CODEC_RAW, block];
    }
    const z = zstdCompressSync(block, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
    if (z.length < block.length * 0.9) {
      this.misses = 0;
      return [CODEC_ZSTD, z];
    }
    if (++this.misses >= 2) {
      this.skip = 16;
      this.misses = 0;
    }
    return [CODEC_RAW, block];
  }
}

const CODEC_RAW = Buffer.from([RAW]);
const CODEC_ZSTD = Buffer.from([ZSTD]);

/** Master side: stream the plan's files. Throws TransferError (after telling the worker) when a file changed under it. */
export async function sendTransfer(session: Session, plan: Plan, root: string, compress = true): Promise<SendStats> {
  const id = plan.id;
  session.send("sync_start", encodeJson(plan), id);
  const blockSize = session.limits.chunk - BLOCK_SLACK;
  const block = Buffer.allocUnsafe(blockSize);
  const comp = new Compressor(compress);
  let fill = 0;
  const stats: SendStats = { bytes: 0, chunks: 0, wireBytes: 0 };
  const flush = async () => {
    if (fill === 0) return;
    const body = comp.encode(block.subarray(0, fill));
    stats.chunks++;
    stats.wireBytes += body[0]!.length + body[1]!.length;
    fill = 0;
    if (!session.sendParts("sync_data", body, id)) await session.drain();
  };
  try {
    for (const w of plan.files) {
      const f = fromWire(w);
      const fd = openSync(join(root, f.path), "r");
      try {
        let left = f.size;
        while (left > 0) {
          const n = readSync(fd, block, fill, Math.min(blockSize - fill, left), null);
          if (n <= 0) throw new TransferError(`\`${f.path}\` shrank while being sent`);
          fill += n;
          left -= n;
          stats.bytes += n;
          if (fill === blockSize) await flush();
        }
        const st = fstatSync(fd);
        if (st.size !== f.size || st.mtimeMs !== f.mtime) throw new TransferError(`\`${f.path}\` changed while being sent`);
      } finally {
        closeSync(fd);
      }
    }
    await flush();
  } catch (e) {
    const reason = e instanceof TransferError ? e.message : `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    if (!session.closed) session.send("sync_abort", encodeJson({ id, reason }), id);
    throw new TransferError(reason);
  }
  session.send("sync_end", encodeJson({ id, bytes: stats.bytes, chunks: stats.chunks }), id);
  return stats;
}

/**
 * Make staged files (and the directories holding them) durable before any of them is renamed into
 * the tree. One syncfs (coreutils `sync -f`, argv, no shell) flushes them all at once: on this kind
 * of disk fsync costs about 2 ms a file, 20 s for 10,000. Without `sync`, each one is fsynced.
 */
export function flushFiles(dir: string, files: string[], dirs: () => string[] = () => []): void {
  if (!files.length) return;
  const r = Bun.which("sync") ? Bun.spawnSync(["sync", "-f", dir], { stdout: "ignore", stderr: "ignore" }) : null;
  if (r?.exitCode === 0) return;
  for (const f of [...files, ...dirs()]) {
    const fd = openSync(f, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Why a plan from the master cannot be applied, or null. */
export function badPlan(plan: Plan): string | null {
  const seen = new Set<string>();
  for (const list of [plan.files, plan.dirs]) {
    for (const w of list) {
      const why = badPath(w[0]);
      if (why) return `refused path \`${w[0].slice(0, 200)}\`: ${why}`;
      if (seen.has(w[0])) return `path \`${w[0].slice(0, 200)}\` planned twice`;
      seen.add(w[0]);
    }
  }
  for (const w of plan.files) if (w[1] !== "f" || !w[5]) return `\`${w[0].slice(0, 200)}\`: a planned file needs kind f and a hash`;
  for (const w of plan.dirs) if (w[1] !== "d") return `\`${w[0].slice(0, 200)}\`: a planned directory needs kind d`;
  for (const w of plan.remove) {
    const why = badPath(w[0]);
    if (why) return `refused path \`${w[0].slice(0, 200)}\`: ${why}`;
  }
  return null;
}

/**
 * The staging thread may fall this many blocks behind before the socket thread hashes the next
 * files itself: hashing is the biggest cost of a first sync, and two cores share it this way.
 */
const HASH_BEHIND = 2;

/**
 * Worker side: one transfer's staging area, fed synchronously frame by frame. This thread keeps
 * the books (which bytes belong to which file) and hashes files while the staging writer thread
 * is behind; the writer thread writes every file and hashes the rest.
 */
export class Receiver {
  readonly dir: string;
  readonly files: FileStatus[];
  private idx = 0;
  private left = 0;
  private writer: StagingWriter;
  /** The current file's hash when this thread takes it. */
  private hasher: InstanceType<typeof Bun.CryptoHasher> | null = null;
  private hashes = new Map<number, string>();
  /** Stat of each staged file (renames keep size, mtime and inode), filled by finish(). */
  readonly stats: StagedStat[] = [];
  bytes = 0;
  chunks = 0;
  readonly startedAt = Date.now();

  constructor(
    readonly root: string,
    readonly plan: Plan,
    private maxBlock: number,
  ) {
    const why = badPlan(plan);
    if (why) throw new TransferError(why);
    // setuid/setgid/sticky never come from the master, whatever it sends (its side strips them too).
    this.files = plan.files.map((w) => ({ ...fromWire(w), mode: w[3] & 0o777 }));
    this.dir = join(stateDir(root), "staging", String(plan.id));
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.tree, { recursive: true, mode: 0o700 });
    // Every planned directory, empty ones too: the commit moves the new ones in whole.
    for (const d of plan.dirs) mkdirSync(join(this.tree, d[0]), { recursive: true, mode: 0o700 });
    this.writer = StagingWriter.take(this.tree);
    const segs: Segment[] = [];
    this.skipEmpty(segs);
    this.writer.write(new Uint8Array(0), segs);
  }

  /** Files are staged at their own paths, so the commit can move a new directory in whole. */
  get tree(): string {
    return join(this.dir, "tree");
  }

  /** Files hashed on this thread so far; the staging thread hashed the others. */
  get hashedHere(): number {
    return this.hashes.size;
  }

  stagedPath(i: number): string {
    // Plan paths are checked relative paths without `.` or `..`: nothing for join() to normalise.
    return `${this.tree}/${this.files[i]!.path}`;
  }

  private seg(i: number, start: number, end: number, last: boolean): Segment {
    const f = this.files[i]!;
    return [i, start, end, last, f.mode, f.mtime, this.hasher === null, f.path];
  }

  /** Step past finished files; empty files get their (empty) segment so they are created too. */
  private skipEmpty(segs: Segment[]): void {
    while (this.left === 0 && this.idx < this.files.length) {
      const f = this.files[this.idx]!;
      if (f.size > 0) {
        this.left = f.size;
        if (this.writer.backlog >= HASH_BEHIND) this.hasher = new Bun.CryptoHasher("blake2b256");
        return;
      }
      segs.push(this.seg(this.idx, 0, 0, true));
      this.idx++;
    }
  }

  onData(body: Buffer): void {
    if (body.length < 1) throw new TransferError("empty data block");
    const raw = body[0] === RAW;
    const data = body[0] === ZSTD ? zstdDecompressSync(body.subarray(1), { maxOutputLength: this.maxBlock }) : raw ? body.subarray(1) : null;
    if (!data) throw new TransferError("unknown data block codec");
    this.chunks++;
    // Raw data is written from the decrypted frame itself (past the codec byte), which the thread can take whole.
    const block = raw ? body : data;
    const shift = raw ? 1 : 0;
    const segs: Segment[] = [];
    let off = 0;
    while (off < data.length) {
      if (this.idx >= this.files.length) throw new TransferError("more data than planned");
      const n = Math.min(this.left, data.length - off);
      this.left -= n;
      const last = this.left === 0;
      segs.push(this.seg(this.idx, off + shift, off + n + shift, last));
      if (this.hasher) {
        this.hasher.update(block.subarray(off + shift, off + n + shift));
        if (last) {
          this.hashes.set(this.idx, this.hasher.digest("hex"));
          this.hasher = null;
        }
      }
      off += n;
      this.bytes += n;
      if (last) {
        this.idx++;
        this.skipEmpty(segs);
      }
    }
    // Hashed above before this: the block's memory moves to the writer thread.
    this.writer.write(block, segs);
  }

  /** All bytes in and verified against the plan's BLAKE2b-256: the staged files, in plan order, flushed to disk. */
  async finish(end: { bytes: number; chunks: number }): Promise<StagedFile[]> {
    if (this.idx < this.files.length || end.bytes !== this.bytes || end.chunks !== this.chunks)
      throw new TransferError(`transfer incomplete: ${this.bytes} of ${end.bytes} bytes`);
    for (let i = 0; i < this.files.length; i++) {
      const f = this.files[i]!;
      // Most are in by now: awaiting 10,000 settled promises would cost more than the check.
      const got = this.writer.ready(i) ?? (await this.writer.result(i));
      if ((got.hash ?? this.hashes.get(i)) !== f.hash) throw new TransferError(`\`${f.path}\` arrived with another hash than planned (changed on the master during the sync)`);
      this.stats[i] = got;
    }
    this.writer.close();
    const staged = this.files.map((f, i) => ({ path: f.path, staged: this.stagedPath(i) }));
    flushFiles(this.dir, staged.map((s) => s.staged), () => [...new Set(this.files.map((f) => `${this.tree}/${parentOf(f.path)}`))]);
    return staged;
  }

  /** Stop the writer thread and leave the staged files where they are. */
  abandon(): void {
    this.writer.close();
  }

  discard(): void {
    this.writer.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
