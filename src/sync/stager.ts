/**
 * The staging writer: a second thread that writes received blocks into the staging files and takes
 * the BLAKE2b-256 of the files it is asked to hash, while the socket thread decrypts the next block.
 * Writing 10,000 files and hashing 200 MB is most of a first sync; on one thread it would add to
 * the network work instead of overlapping with it. The thread reports once per block (not once per
 * file), and how many blocks it has not finished yet (`backlog`) lets the socket thread take some
 * of the hashing when the writer falls behind. The thread is a blob-URL worker (no module of its
 * own), so the compiled binary needs no extra entry point.
 */
const CODE = `
const fs = require("node:fs");
// Files are created with their final mode; only bits the umask takes away need a chmod.
const umask = process.umask();
const files = new Map();
const made = new Set();
let failed = false;
// Sparse files stay sparse: a 4 KiB block of zeros (at a 4 KiB file offset) is skipped, not
// written, and the file is cut to its size at the end. Non-zero data goes out in one write per run.
const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);
function zeroBlock(u, s) {
  if (u[s] !== 0 || u[s + BLOCK - 1] !== 0) return false;
  return Buffer.compare(Buffer.from(u.buffer, u.byteOffset + s, BLOCK), ZEROS) === 0;
}
function writeRun(f, u, s, e) {
  let off = s;
  while (off < e) off += fs.writeSync(f.fd, u, off, e - off, f.pos + (off - s));
}
function writeSparse(f, u, start, end) {
  let runAt = start;
  let p = start;
  while (p < end) {
    const filePos = f.pos + (p - start);
    const next = Math.min(end, p + (BLOCK - (filePos % BLOCK)));
    if (next - p === BLOCK && zeroBlock(u, p)) {
      if (runAt < p) writeRun({ fd: f.fd, pos: f.pos + (runAt - start) }, u, runAt, p);
      runAt = next;
      f.holes = true;
    }
    p = next;
  }
  if (runAt < end) writeRun({ fd: f.fd, pos: f.pos + (runAt - start) }, u, runAt, end);
  f.pos += end - start;
}
let progress = null;
self.onmessage = (e) => {
  if (e.data.progress) return void (progress = new Int32Array(e.data.progress));
  if (failed) return;
  const { dir, buf, segs, seq } = e.data;
  const u = new Uint8Array(buf);
  const done = [];
  try {
    for (const [idx, start, end, last, mode, mtime, hash, path] of segs) {
      let f = files.get(idx);
      if (!f) {
        const slash = path.lastIndexOf("/");
        if (slash > 0 && !made.has(path.slice(0, slash))) {
          fs.mkdirSync(dir + "/" + path.slice(0, slash), { recursive: true, mode: 0o700 });
          made.add(path.slice(0, slash));
        }
        f = { fd: fs.openSync(dir + "/" + path, "w", mode), h: hash ? new Bun.CryptoHasher("blake2b256") : null, pos: 0, holes: false };
        files.set(idx, f);
      }
      writeSparse(f, u, start, end);
      if (f.h && end > start) f.h.update(u.subarray(start, end));
      if (last) {
        // A hole at the end is no write at all: the size comes from here.
        if (f.holes) fs.ftruncateSync(f.fd, f.pos);
        if (mode & umask) fs.fchmodSync(f.fd, mode);
        fs.futimesSync(f.fd, new Date(), new Date(mtime));
        const st = fs.fstatSync(f.fd);
        fs.closeSync(f.fd);
        files.delete(idx);
        done.push([idx, f.h ? f.h.digest("hex") : null, st.size, st.mtimeMs, st.ino]);
      }
    }
  } catch (err) {
    failed = true;
    for (const f of files.values()) try { fs.closeSync(f.fd); } catch {}
    postMessage({ error: String(err && err.message || err) });
    return;
  }
  // The socket thread reads this at once, without waiting for its event loop to see the message.
  Atomics.store(progress, 0, seq);
  postMessage({ seq, done });
};`;

let workerUrl: string | null = null;
/** A thread started ahead of a transfer, see StagingWriter.warm(). */
let spare: StagingWriter | null = null;

/**
 * [file index, start, end, last piece of that file, mode, mtime ms, hash it here, path] within one
 * posted block. The file is written at `path` under the staging directory (checked by the caller:
 * relative, no `..`), its parent directories made as needed; the hash flag is the same for every
 * piece of a file.
 */
export type Segment = [number, number, number, boolean, number, number, boolean, string];

export interface StagedStat {
  /** Null when the socket thread hashed the file. */
  hash: string | null;
  size: number;
  mtimeMs: number;
  ino: number;
}

type Done = [number, string | null, number, number, number];

export class StagingWriter {
  private worker: Worker;
  private waiting = new Map<number, { resolve: (s: StagedStat) => void; reject: (e: Error) => void }>();
  private done = new Map<number, StagedStat>();
  private failed: Error | null = null;
  private posted = 0;
  /** The last block the thread has finished, shared memory so it is current even while this thread is busy. */
  private progress = new Int32Array(new SharedArrayBuffer(4));

  /**
   * Start a thread before a transfer is known: its boot (10-15 ms) then overlaps with the rest of
   * the integrity check instead of delaying the first blocks.
   */
  static warm(): void {
    spare ??= new StagingWriter("");
  }

  /** A writer into `dir`: the warmed one if there is one. */
  static take(dir: string): StagingWriter {
    const w = spare ?? new StagingWriter(dir);
    spare = null;
    w.dir = dir;
    return w;
  }

  constructor(public dir: string) {
    // The thread loads the URL after this returns: it stays valid for the life of the process.
    workerUrl ??= URL.createObjectURL(new Blob([CODE], { type: "application/javascript" }));
    this.worker = new Worker(workerUrl);
    this.worker.postMessage({ progress: this.progress.buffer });
    this.worker.onmessage = (e: MessageEvent<{ seq: number; done: Done[]; error?: string }>) => {
      const m = e.data;
      if (m.error !== undefined) return this.fail(new Error(`writing the staging area failed: ${m.error}`));
      for (const [idx, hash, size, mtimeMs, ino] of m.done) {
        const s: StagedStat = { hash, size, mtimeMs, ino };
        const w = this.waiting.get(idx);
        if (w) {
          this.waiting.delete(idx);
          w.resolve(s);
        } else this.done.set(idx, s);
      }
    };
    this.worker.onerror = (e) => this.fail(new Error(`staging thread failed: ${(e as ErrorEvent).message ?? "error"}`));
    // Never keep a process alive just for this thread.
    (this.worker as unknown as { unref?: () => void }).unref?.();
  }

  /** Blocks handed over and not written yet. */
  get backlog(): number {
    return this.posted - Atomics.load(this.progress, 0);
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const w of this.waiting.values()) w.reject(this.failed);
    this.waiting.clear();
  }

  /** Hand over a block; its memory moves to the thread when it owns its ArrayBuffer, else it is copied. */
  write(block: Uint8Array, segs: Segment[]): void {
    if (!segs.length) return;
    // Bun's decipher output carries a spare byte past its end; a small Buffer from the shared pool never comes this close.
    const own = block.byteOffset === 0 && block.buffer.byteLength - block.byteLength <= 16 && block.buffer instanceof ArrayBuffer;
    // Buffer#slice is a view, not a copy: copy through the Uint8Array constructor.
    const buf = own ? (block.buffer as ArrayBuffer) : new Uint8Array(block).buffer;
    this.worker.postMessage({ dir: this.dir, buf, segs, seq: ++this.posted }, [buf]);
  }

  /** The file's result if the thread has already reported it (then result() is not needed). */
  ready(idx: number): StagedStat | undefined {
    const d = this.done.get(idx);
    if (d !== undefined) this.done.delete(idx);
    return d;
  }

  /** The file's stat (and hash, if the thread took it) once its last byte is written and it is closed. */
  result(idx: number): Promise<StagedStat> {
    const d = this.done.get(idx);
    if (d !== undefined) {
      this.done.delete(idx);
      return Promise.resolve(d);
    }
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => this.waiting.set(idx, { resolve, reject }));
  }

  close(): void {
    this.worker.terminate();
  }
}
