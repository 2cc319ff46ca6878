import { dlopen, FFIType } from "bun:ffi";
import { closeSync, fsyncSync, openSync } from "node:fs";

/**
 * syncfs(2): make everything written to one filesystem durable (file data, inodes, directory
 * entries) in one call, instead of an fsync per file: a group commit. Called through bun:ffi on
 * glibc's libc (no process spawn), else coreutils `sync -f DIR` (argv, no shell); null when neither
 * works, so the caller fsyncs each file itself.
 */
type SyncFs = (fd: number) => number;

let native: SyncFs | null | undefined;

function loadNative(): SyncFs | null {
  if (native !== undefined) return native;
  native = null;
  if (process.platform !== "linux" || process.env.FALC_NO_SYNCFS_FFI) return native;
  try {
    const lib = dlopen("libc.so.6", { syncfs: { args: [FFIType.i32], returns: FFIType.i32 } });
    native = (fd) => lib.symbols.syncfs(fd) as number;
  } catch {
    native = null;
  }
  return native;
}

/** How the last syncFs call made things durable (tests and benchmarks look). */
export const syncfsStats = { ffi: 0, spawn: 0, failed: 0 };

/**
 * Flush the filesystem holding `dir`. True when it was done; false when the caller must fsync the
 * files and directories it wrote one by one.
 */
export function syncFs(dir: string): boolean {
  const fn = loadNative();
  if (fn) {
    let fd = -1;
    try {
      fd = openSync(dir, "r");
      if (fn(fd) === 0) {
        syncfsStats.ffi++;
        return true;
      }
    } catch {
      // fall through to the other ways
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }
  if (Bun.which("sync")) {
    const r = Bun.spawnSync(["sync", "-f", dir], { stdout: "ignore", stderr: "ignore" });
    if (r.exitCode === 0) {
      syncfsStats.spawn++;
      return true;
    }
  }
  syncfsStats.failed++;
  return false;
}

/** fsync one path (a file or a directory); missing paths are skipped. */
export function fsyncPath(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
