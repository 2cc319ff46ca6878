import { dlopen, FFIType, ptr } from "bun:ffi";

/**
 * CLOCK_MONOTONIC, the one clock every process on this machine shares and that never jumps (NTP, date -s).
 * Bun's process.hrtime counts from its own process start, so it cannot compare times between a handler and its
 * children; clock_gettime(2) can. Used for lease deadlines handed from handler to child (ipc.ts).
 */
const CLOCK_MONOTONIC = 1;
const libc = dlopen("libc.so.6", { clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
const ts = new BigInt64Array(2);

export function monoNs(): bigint {
  if (libc.symbols.clock_gettime(CLOCK_MONOTONIC, ptr(ts)) !== 0) throw new Error("clock_gettime(CLOCK_MONOTONIC) failed");
  return ts[0]! * 1_000_000_000n + ts[1]!;
}

export function monoMs(): number {
  return Number(monoNs() / 1000n) / 1000;
}
