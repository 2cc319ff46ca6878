/**
 * The staging writer: a second thread that writes received blocks into the staging files and takes
 * each file's BLAKE2b-256 as it goes, while the socket thread decrypts and decompresses the next
 * block. Writing 10,000 files and hashing 200 MB is most of a first sync; on one thread it would
 * add to the network work instead of overlapping with it. The thread is a blob-URL worker (no
 * module of its own), so the compiled binary needs no extra entry point.
 */
const CODE = `
const fs = require("node:fs");
const files = new Map();
let failed = false;
self.onmessage = (e) => {
  if (failed) return;
  const { dir, buf, segs } = e.data;
  const u = new Uint8Array(buf);
  try {
    for (const [idx, start, end, last, mode, mtime] of segs) {
      let f = files.get(idx);
      if (!f) {
        f = { fd: fs.openSync(dir + "/" + idx, "w", 0o600), h: new Bun.CryptoHasher("blake2b256") };
        files.set(idx, f);
      }
      let off = start;
      while (off < end) off += fs.writeSync(f.fd, u, off, end - off);
      if (end > start) f.h.update(u.subarray(start, end));
      if (last) {
        fs.fchmodSync(f.fd, mode);
        fs.futimesSync(f.fd, new Date(), new Date(mtime));
        const st = fs.fstatSync(f.fd);
        fs.closeSync(f.fd);
        files.delete(idx);
        postMessage({ idx, hash: f.h.digest("hex"), size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
      }
    }
  } catch (err) {
    failed = true;
    for (const f of files.values()) try { fs.closeSync(f.fd); } catch {}
    postMessage({ error: String(err && err.message || err) });
  }
};`;

let workerUrl: string | null = null;

/** [file index, start, end, last piece of that file, mode, mtime ms] within one posted block. */
export type Segment = [number, number, number, boolean, number, number];

export interface StagedStat {
  hash: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export class StagingWriter {
  private worker: Worker;
  private waiting = new Map<number, { resolve: (s: StagedStat) => void; reject: (e: Error) => void }>();
  private done = new Map<number, StagedStat>();
  private failed: Error | null = null;

  constructor(readonly dir: string) {
    // The thread loads the URL after this returns: it stays valid for the life of the process.
    workerUrl ??= URL.createObjectURL(new Blob([CODE], { type: "application/javascript" }));
    this.worker = new Worker(workerUrl);
    this.worker.onmessage = (e: MessageEvent<{ idx: number; error?: string } & StagedStat>) => {
      const m = e.data;
      if (m.error !== undefined) return this.fail(new Error(`writing the staging area failed: ${m.error}`));
      const s: StagedStat = { hash: m.hash, size: m.size, mtimeMs: m.mtimeMs, ino: m.ino };
      const w = this.waiting.get(m.idx);
      if (w) {
        this.waiting.delete(m.idx);
        w.resolve(s);
      } else this.done.set(m.idx, s);
    };
    this.worker.onerror = (e) => this.fail(new Error(`staging thread failed: ${(e as ErrorEvent).message ?? "error"}`));
    // Never keep a process alive just for this thread.
    (this.worker as unknown as { unref?: () => void }).unref?.();
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const w of this.waiting.values()) w.reject(this.failed);
    this.waiting.clear();
  }

  /** Hand over a block; its memory moves to the thread when it owns a whole ArrayBuffer, else it is copied. */
  write(block: Uint8Array, segs: Segment[]): void {
    if (!segs.length) return;
    const own = block.byteOffset === 0 && block.byteLength === block.buffer.byteLength && block.buffer instanceof ArrayBuffer;
    // Buffer#slice is a view, not a copy: copy through the Uint8Array constructor.
    const buf = own ? (block.buffer as ArrayBuffer) : new Uint8Array(block).buffer;
    this.worker.postMessage({ dir: this.dir, buf, segs }, [buf]);
  }

  /** The file's hash and stat once its last byte is written and it is closed. */
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
