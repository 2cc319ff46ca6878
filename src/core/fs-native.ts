import { dlopen, FFIType, read } from "bun:ffi";
import { closeSync, fsyncSync, openSync } from "node:fs";

/**
 * Two Linux calls Node's fs lacks, through bun:ffi on glibc's libc (no process spawn):
 *  - syncfs(2): make everything written to one filesystem durable (file data, inodes, directory
 *    entries) in one call instead of an fsync per file: a group commit. Else coreutils `sync -f DIR`
 *    (argv, no shell); else the caller fsyncs each file itself.
 *  - renameat2(2) with RENAME_NOREPLACE: rename only if the new name is free, atomically.
 *  - sync_file_range(2) SYNC_FILE_RANGE_WRITE: start writing a file's dirty pages out now, without
 *    waiting, so a later syncfs finds the bulk already on disk (it makes nothing durable itself).
 * FALC_NO_NATIVE_FS=1 turns both off (tests of the fallbacks).
 */
interface Native {
  syncfs(fd: number): number;
  writeback(fd: number): number;
  renameNoReplace(from: string, to: string): number;
  errno(): number;
}

let native: Native | null | undefined;

function loadNative(): Native | null {
  if (native !== undefined) return native;
  native = null;
  if (process.platform !== "linux" || process.env.FALC_NO_NATIVE_FS) return native;
  try {
    const lib = dlopen("libc.so.6", {
      syncfs: { args: [FFIType.i32], returns: FFIType.i32 },
      sync_file_range: { args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.u32], returns: FFIType.i32 },
      renameat2: { args: [FFIType.i32, FFIType.cstring, FFIType.i32, FFIType.cstring, FFIType.u32], returns: FFIType.i32 },
      __errno_location: { args: [], returns: FFIType.ptr },
    });
    const s = lib.symbols;
    const cstr = (p: string) => Buffer.from(p + "\0");
    native = {
      syncfs: (fd) => s.syncfs(fd) as number,
      writeback: (fd) => s.sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) as number,
      renameNoReplace: (from, to) => s.renameat2(AT_FDCWD, cstr(from), AT_FDCWD, cstr(to), RENAME_NOREPLACE) as number,
      errno: () => {
        const p = s.__errno_location();
        return p ? read.i32(p, 0) : 0;
      },
    };
  } catch {
    native = null;
  }
  return native;
}

const AT_FDCWD = -100;
const SYNC_FILE_RANGE_WRITE = 2;
const RENAME_NOREPLACE = 1;
const EEXIST = 17;
const ENOSYS = 38;
const EINVAL = 22;

/** How the last syncFs call made things durable (tests and benchmarks look). */
export const syncfsStats = { ffi: 0, spawn: 0, failed: 0 };

/**
 * Flush the filesystem holding `dir`. True when it was done; false when the caller must fsync the
 * files and directories it wrote one by one.
 */
export function syncFs(dir: string): boolean {
  const n = loadNative();
  if (n) {
    let fd = -1;
    try {
      fd = openSync(dir, "r");
      if (n.syncfs(fd) === 0) {
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

/**
 * Rename `from` to `to` unless `to` exists: "renamed", "exists", or null when the kernel, the
 * filesystem or this platform cannot say (then the caller must guard the name some other way).
 * Other errors throw.
 */
export function renameNoReplace(from: string, to: string): "renamed" | "exists" | null {
  const n = loadNative();
  if (!n) return null;
  if (n.renameNoReplace(from, to) === 0) return "renamed";
  const errno = n.errno();
  if (errno === EEXIST) return "exists";
  if (errno === ENOSYS || errno === EINVAL) return null;
  const e = new Error(`rename ${from} → ${to} failed (errno ${errno})`) as NodeJS.ErrnoException;
  e.errno = errno;
  throw e;
}

/** Whether renameNoReplace can work here (decided once, from the library alone). */
export function canRenameNoReplace(): boolean {
  return loadNative() !== null;
}

/**
 * Start writing `fd`'s dirty pages to disk without waiting (a hint; no-op where unsupported).
 * True when the kernel took the hint; callers may ignore it (tests look).
 */
export function startWriteback(fd: number): boolean {
  return loadNative()?.writeback(fd) === 0;
}
