/**
 * md5 and sha512 (the two slow ones, ~500 MB/s each) on a second thread while the caller computes sha1
 * and sha256 (SHA-NI, ~1.5 GB/s) and detects the type: identification then costs about as much wall time as
 * md5+sha512 instead of all four. Bytes go over in SharedArrayBuffers, never copied. The worker's source is
 * inline (a Blob URL) so it runs the same from `bun run` and from the compiled binary. Falls back to the
 * caller's thread if a worker cannot be started.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { type Hashes, MultiHasher } from "./hashes.ts";

const WORKER_SOURCE = `
const sessions = new Map();
self.onmessage = (ev) => {
  const m = ev.data;
  try {
    if (m.op === "begin") sessions.set(m.id, [new Bun.CryptoHasher("md5"), new Bun.CryptoHasher("sha512")]);
    else if (m.op === "update") {
      const data = new Uint8Array(m.sab, 0, m.len);
      for (const h of sessions.get(m.id)) h.update(data);
      postMessage({ id: m.id, op: "ack", seq: m.seq });
    } else if (m.op === "end") {
      const [md5, sha512] = sessions.get(m.id);
      sessions.delete(m.id);
      postMessage({ id: m.id, op: "done", md5: md5.digest("hex"), sha512: sha512.digest("hex") });
    }
  } catch (e) {
    sessions.delete(m.id);
    postMessage({ id: m.id, op: "error", error: String(e && e.message || e) });
  }
};
`;

type Reply = { id: number; op: "ack"; seq: number } | { id: number; op: "done"; md5: string; sha512: string } | { id: number; op: "error"; error: string };

let worker: Worker | undefined;
let broken = false;
let nextId = 1;
const waiters = new Map<string, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

function getWorker(): Worker | undefined {
  if (worker || broken) return worker;
  try {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    worker = new Worker(url);
    worker.onmessage = (ev: MessageEvent<Reply>) => {
      const r = ev.data;
      const key = r.op === "ack" ? `${r.id}:${r.seq}` : `${r.id}:end`;
      const w = waiters.get(key);
      if (!w) return;
      waiters.delete(key);
      if (r.op === "error") w.reject(new Error(`hash thread: ${r.error}`));
      else w.resolve(r);
    };
    worker.onerror = (ev) => {
      broken = true;
      for (const w of waiters.values()) w.reject(new Error(`hash thread failed: ${ev.message}`));
      waiters.clear();
      worker = undefined;
    };
    // The thread must not keep a finished process alive.
    (worker as unknown as { unref?: () => void }).unref?.();
  } catch {
    broken = true;
    worker = undefined;
  }
  return worker;
}

function wait(key: string): Promise<Reply> {
  return new Promise((resolve, reject) => waiters.set(key, { resolve, reject }));
}

/** Below this, a message round trip costs more than it saves. */
const PARALLEL_MIN = 512 * 1024;
const CHUNK = 8 * 1024 * 1024;

function sha1sha256(): Bun.CryptoHasher[] {
  return [new Bun.CryptoHasher("sha1"), new Bun.CryptoHasher("sha256")];
}

/**
 * Reads a file once and hashes it; `onChunk` sees the bytes as they are read (type detection).
 * Returns the whole content when it fits in `keepUpTo` bytes (callers parse it without a second read).
 */
export async function hashFileParallel(path: string, opts: { keepUpTo?: number; onChunk?: (chunk: Uint8Array, offset: number) => void; signal?: AbortSignal } = {}): Promise<Hashes & { size: number; bytes?: Uint8Array }> {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const keep = size <= (opts.keepUpTo ?? 0);
    const w = size >= PARALLEL_MIN ? getWorker() : undefined;
    if (!w) {
      const buf = new Uint8Array(keep ? size : Math.min(size, CHUNK) || 1);
      const h = new MultiHasher();
      let off = 0;
      for (;;) {
        opts.signal?.throwIfAborted();
        const into = keep ? buf.subarray(off) : buf;
        const n = into.length ? readSync(fd, into, 0, into.length, off) : 0;
        if (n <= 0) break;
        const chunk = into.subarray(0, n);
        h.update(chunk);
        opts.onChunk?.(chunk, off);
        off += n;
      }
      return { ...h.digest(), size: off, bytes: keep ? buf.subarray(0, off) : undefined };
    }
    const id = nextId++;
    w.postMessage({ op: "begin", id });
    const local = sha1sha256();
    // One shared buffer for a kept file; two alternating chunk buffers when streaming.
    const bufs = keep ? [new SharedArrayBuffer(Math.max(size, 1))] : [new SharedArrayBuffer(CHUNK), new SharedArrayBuffer(CHUNK)];
    const inFlight: (Promise<Reply> | undefined)[] = [undefined, undefined];
    let off = 0;
    let seq = 0;
    try {
      for (;;) {
        opts.signal?.throwIfAborted();
        const slot = keep ? 0 : seq % 2;
        if (inFlight[slot]) await inFlight[slot];
        const view = keep ? new Uint8Array(bufs[0]!, off) : new Uint8Array(bufs[slot]!);
        let n = 0;
        while (n < view.length) {
          const r = readSync(fd, view, n, view.length - n, off + n);
          if (r <= 0) break;
          n += r;
        }
        if (n === 0) break;
        const chunk = view.subarray(0, n);
        inFlight[slot] = wait(`${id}:${seq}`);
        w.postMessage({ op: "update", id, seq, sab: bufs[keep ? 0 : slot], len: n });
        for (const h of local) h.update(chunk);
        opts.onChunk?.(chunk, off);
        off += n;
        seq++;
        if (keep || n < view.length) break;
      }
      await Promise.all(inFlight);
      const done = wait(`${id}:end`);
      w.postMessage({ op: "end", id });
      const r = (await done) as Extract<Reply, { op: "done" }>;
      return { md5: r.md5, sha1: local[0]!.digest("hex"), sha256: local[1]!.digest("hex"), sha512: r.sha512, size: off, bytes: keep ? new Uint8Array(bufs[0]!, 0, off) : undefined };
    } catch (e) {
      for (let s = 0; s <= seq; s++) waiters.delete(`${id}:${s}`);
      waiters.delete(`${id}:end`);
      w.postMessage({ op: "end", id });
      throw e;
    }
  } finally {
    closeSync(fd);
  }
}
