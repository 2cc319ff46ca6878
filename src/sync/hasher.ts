/**
 * BLAKE2b-256 of received files on a second thread: verifying 200 MB costs about half a second of
 * CPU, and off the socket thread it overlaps with decrypting and writing instead of adding to them.
 * The thread is a blob URL worker (no module of its own), so the compiled binary needs no extra entry.
 */
const CODE = `
const open = new Map();
self.onmessage = (e) => {
  const { buf, segs } = e.data;
  const u = new Uint8Array(buf);
  for (const [idx, start, end, last] of segs) {
    let h = open.get(idx);
    if (!h) { h = new Bun.CryptoHasher("blake2b256"); open.set(idx, h); }
    if (end > start) h.update(u.subarray(start, end));
    if (last) { open.delete(idx); postMessage([idx, h.digest("hex")]); }
  }
};`;

let workerUrl: string | null = null;

/** [file index, start, end, last piece of that file] within one posted block. */
export type Segment = [number, number, number, boolean];

export class OffThreadHasher {
  private worker: Worker;
  private waiting = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();
  private failed: Error | null = null;
  private done = new Map<number, string>();

  constructor() {
    // The thread loads the URL after this returns: it stays valid for the life of the process.
    workerUrl ??= URL.createObjectURL(new Blob([CODE], { type: "application/javascript" }));
    this.worker = new Worker(workerUrl);
    this.worker.onmessage = (e: MessageEvent<[number, string]>) => {
      const [idx, hex] = e.data;
      const w = this.waiting.get(idx);
      if (w) {
        this.waiting.delete(idx);
        w.resolve(hex);
      } else this.done.set(idx, hex);
    };
    this.worker.onerror = (e) => {
      this.failed = new Error(`hash thread failed: ${(e as ErrorEvent).message ?? "error"}`);
      for (const w of this.waiting.values()) w.reject(this.failed);
      this.waiting.clear();
    };
    // Never keep a process alive just for this thread.
    (this.worker as unknown as { unref?: () => void }).unref?.();
  }

  /** Hand over a block (its memory moves to the thread when it owns a whole ArrayBuffer). */
  feed(block: Uint8Array, segs: Segment[]): void {
    if (!segs.length) return;
    const own = block.byteOffset === 0 && block.byteLength === block.buffer.byteLength && block.buffer instanceof ArrayBuffer;
    // Buffer#slice is a view, not a copy: copy through the Uint8Array constructor.
    const buf = own ? (block.buffer as ArrayBuffer) : new Uint8Array(block).buffer;
    this.worker.postMessage({ buf, segs }, [buf]);
  }

  digest(idx: number): Promise<string> {
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
