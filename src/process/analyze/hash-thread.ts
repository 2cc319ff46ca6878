/**
 * md5 and sha512 (the slow ones, ~500 MB/s each) each on a thread of its own while the caller reads the
 * file and computes sha1 and sha256 (SHA-NI, ~1.5 GB/s): on two free cores identification costs about
 * the time of one slow hash instead of all four. Chunks go over in reused SharedArrayBuffers, never copied.
 * The workers' source is inline (a Blob URL) so they run the same from `bun run` and from the compiled
 * binary. Small files, or a process where workers cannot start, hash on the caller's thread.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { type Hashes, MultiHasher } from "./hashes.ts";

const WORKER_SOURCE = `
const sessions = new Map();
self.onmessage = (ev) => {
  const m = ev.data;
  try {
    if (m.op === "begin") sessions.set(m.id, new Bun.CryptoHasher(m.alg));
    else if (m.op === "update") {
      sessions.get(m.id).update(new Uint8Array(m.sab, 0, m.len));
      postMessage({ id: m.id, op: "ack", seq: m.seq });
    } else if (m.op === "end") {
      const h = sessions.get(m.id);
      sessions.delete(m.id);
      postMessage({ id: m.id, op: "done", hex: h ? h.digest("hex") : "" });
    }
  } catch (e) {
    sessions.delete(m.id);
    postMessage({ id: m.id, op: "error", error: String((e && e.message) || e) });
  }
};
`;

type Reply = { id: number; op: "ack"; seq: number } | { id: number; op: "done"; hex: string } | { id: number; op: "error"; error: string };
type Alg = "md5" | "sha512";

interface HashWorker {
  w: Worker;
  waiters: Map<string, { resolve: (r: Reply) => void; reject: (e: Error) => void }>;
}

const workers = new Map<Alg, HashWorker>();
let broken = false;
let nextId = 1;

function startWorker(alg: Alg): HashWorker | undefined {
  if (broken) return undefined;
  const existing = workers.get(alg);
  if (existing) return existing;
  try {
    const w = new Worker(URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" })));
    const hw: HashWorker = { w, waiters: new Map() };
    w.onmessage = (ev: MessageEvent<Reply>) => {
      const r = ev.data;
      const key = r.op === "ack" ? `${r.id}:${r.seq}` : `${r.id}:end`;
      const waiter = hw.waiters.get(key);
      if (!waiter) return;
      hw.waiters.delete(key);
      if (r.op === "error") waiter.reject(new Error(`hash thread: ${r.error}`));
      else waiter.resolve(r);
    };
    w.onerror = (ev) => {
      broken = true;
      for (const waiter of hw.waiters.values()) waiter.reject(new Error(`hash thread failed: ${ev.message}`));
      hw.waiters.clear();
      workers.delete(alg);
    };
    // The threads must not keep a finished process alive.
    (w as unknown as { unref?: () => void }).unref?.();
    workers.set(alg, hw);
    return hw;
  } catch {
    broken = true;
    return undefined;
  }
}

function wait(hw: HashWorker, key: string): Promise<Reply> {
  return new Promise((resolve, reject) => hw.waiters.set(key, { resolve, reject }));
}

/** Below this, message round trips cost more than the second thread saves. */
const PARALLEL_MIN = 32 * 1024;
const CHUNK = 4 * 1024 * 1024;

let localChunk: Uint8Array | undefined;

// Reused chunk buffers: fresh multi-MB allocations (page faults) cost more than they save.
const pairs: SharedArrayBuffer[][] = [];
function acquirePair(): SharedArrayBuffer[] {
  return pairs.pop() ?? [new SharedArrayBuffer(CHUNK), new SharedArrayBuffer(CHUNK)];
}
function releasePair(p: SharedArrayBuffer[]): void {
  if (pairs.length < 4) pairs.push(p);
}

/**
 * Reads a file once and hashes it; `onChunk` sees the bytes as they are read.
 * Returns the whole content when it fits in `keepUpTo` bytes (callers parse it without a second read).
 */
export async function hashFileParallel(path: string, opts: { keepUpTo?: number; onChunk?: (chunk: Uint8Array, offset: number) => void; signal?: AbortSignal; threads?: boolean } = {}): Promise<Hashes & { size: number; bytes?: Uint8Array }> {
  try {
    return await hashWithThreads(path, opts, opts.threads === false);
  } catch (e) {
    // A hash thread that failed costs speed, never the result: start over on this thread.
    if (opts.signal?.aborted || !(e instanceof Error) || !e.message.startsWith("hash thread")) throw e;
    return hashWithThreads(path, opts, true);
  }
}

async function hashWithThreads(path: string, opts: { keepUpTo?: number; onChunk?: (chunk: Uint8Array, offset: number) => void; signal?: AbortSignal }, noThreads = false): Promise<Hashes & { size: number; bytes?: Uint8Array }> {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const keep = size <= (opts.keepUpTo ?? 0);
    const hws = size >= PARALLEL_MIN && !noThreads ? (["md5", "sha512"] as const).map(startWorker) : [];
    if (hws.length !== 2 || hws.some((h) => !h)) {
      // The loop below never yields, so one module-level chunk buffer serves every call without page faults.
      const buf = keep ? new Uint8Array(size) : (localChunk ??= new Uint8Array(CHUNK));
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
    const [md5w, sha512w] = hws as HashWorker[];
    const id = nextId++;
    md5w!.w.postMessage({ op: "begin", id, alg: "md5" });
    sha512w!.w.postMessage({ op: "begin", id, alg: "sha512" });
    const sha1 = new Bun.CryptoHasher("sha1");
    const sha256 = new Bun.CryptoHasher("sha256");
    const bufs = acquirePair();
    const kept = keep ? new Uint8Array(size) : undefined;
    const inFlight: (Promise<unknown> | undefined)[] = [undefined, undefined];
    let off = 0;
    let seq = 0;
    let clean = false;
    try {
      for (;;) {
        opts.signal?.throwIfAborted();
        const slot = seq % 2;
        // Both threads must be done with this buffer before it is filled again.
        if (inFlight[slot]) await inFlight[slot];
        const view = new Uint8Array(bufs[slot]!);
        let n = 0;
        while (n < view.length) {
          const r = readSync(fd, view, n, view.length - n, off + n);
          if (r <= 0) break;
          n += r;
        }
        if (n === 0) break;
        const chunk = view.subarray(0, n);
        inFlight[slot] = Promise.all([wait(md5w!, `${id}:${seq}`), wait(sha512w!, `${id}:${seq}`)]);
        const msg = { op: "update", id, seq, sab: bufs[slot], len: n };
        md5w!.w.postMessage(msg);
        sha512w!.w.postMessage(msg);
        sha1.update(chunk);
        sha256.update(chunk);
        if (kept) kept.set(chunk, off);
        opts.onChunk?.(chunk, off);
        off += n;
        seq++;
        if (n < view.length) break;
      }
      await Promise.all(inFlight);
      clean = true;
      const ends = [wait(md5w!, `${id}:end`), wait(sha512w!, `${id}:end`)];
      md5w!.w.postMessage({ op: "end", id });
      sha512w!.w.postMessage({ op: "end", id });
      const [m, s] = (await Promise.all(ends)) as Extract<Reply, { op: "done" }>[];
      return { md5: m!.hex, sha1: sha1.digest("hex"), sha256: sha256.digest("hex"), sha512: s!.hex, size: off, bytes: kept?.subarray(0, off) };
    } finally {
      if (clean) releasePair(bufs);
      else {
        // Aborted mid-file: forget the session; the buffers may still be read by a worker, so they are not reused.
        for (const hw of [md5w!, sha512w!]) {
          for (let k = 0; k <= seq; k++) hw.waiters.delete(`${id}:${k}`);
          hw.waiters.delete(`${id}:end`);
          hw.w.postMessage({ op: "end", id });
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}
