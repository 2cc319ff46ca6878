/**
 * The backstop of a child's lease fence (see child.ts): a thread of its own that SIGKILLs the child's process
 * group once the run's deadline (CLOCK_MONOTONIC ms) has passed, even while the child's main thread is stuck in a
 * long synchronous call and its timers cannot fire. The main thread's timer normally fires first (and logs);
 * this thread acts `graceMs` later, only if that did not happen.
 */
const CODE = `
const { dlopen, FFIType, ptr } = await import("bun:ffi");
const libc = dlopen("libc.so.6", { clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
const ts = new BigInt64Array(2);
const monoMs = () => (libc.symbols.clock_gettime(1, ptr(ts)), Number(ts[0]) * 1000 + Number(ts[1]) / 1e6);
self.onmessage = (e) => {
  const view = new Float64Array(e.data.sab);
  const { pgid, graceMs } = e.data;
  setInterval(() => {
    const until = view[0];
    if (until > 0 && monoMs() > until + graceMs) {
      console.error(JSON.stringify({ level: 50, time: Date.now(), event: "lease_unconfirmed", by: "fence_thread", msg: "the run's lease was not confirmed in time and the child is not responding; killing its process group" }));
      if (pgid > 1) try { process.kill(-pgid, "SIGKILL"); } catch {}
      process.kill(process.pid, "SIGKILL");
    }
  }, 20);
};
`;

export class FenceThread {
  private view: Float64Array;
  private worker: Worker;

  constructor(pgid: number, graceMs = 100) {
    const sab = new SharedArrayBuffer(8);
    this.view = new Float64Array(sab);
    this.worker = new Worker(URL.createObjectURL(new Blob([CODE], { type: "application/javascript" })));
    this.worker.postMessage({ sab, pgid, graceMs });
    // The thread never keeps the child alive by itself.
    this.worker.unref();
  }

  /** The current run's deadline (monoMs); 0 = no run, nothing to enforce. */
  set(untilMono: number): void {
    this.view[0] = untilMono;
  }

  clear(): void {
    this.view[0] = 0;
  }

  stop(): void {
    this.worker.terminate();
  }
}
