import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";

/**
 * Write a file so readers see the old or the new content, never half of it: temp + fsync + rename.
 * `syncDir: false` leaves the directory's fsync to the caller, who syncs it once after several
 * writes into the same directory (fsyncDir): each file is still complete before it is renamed.
 * `fsync: false` also leaves the file's own fsync to the caller: for a file inside a directory that
 * nobody sees until the caller has made all of it durable (a staging directory renamed in whole).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, opts: { syncDir?: boolean; fsync?: boolean } = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  const fd = openSync(tmp, "w", mode);
  try {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (opts.fsync !== false) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch {}
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  // fsync the directory so the rename itself survives a crash.
  if (opts.syncDir !== false && opts.fsync !== false) fsyncDir(dirname(path));
}

/**
 * fsync a directory so that renames and creations in it survive a crash. Throws on failure: a directory
 * whose entries cannot be made durable means the write that called this is not durable either.
 * EINVAL (a filesystem that cannot fsync directories) is not a durability failure and is ignored.
 */
export function fsyncDir(dir: string): void {
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EINVAL") throw e;
  } finally {
    closeSync(dfd);
  }
}

/** fsyncDir for callers that can go on without it: the failure goes to `report` with its consequence. */
export function fsyncDirBestEffort(dir: string, report: (message: string) => void): boolean {
  try {
    fsyncDir(dir);
    return true;
  } catch (e) {
    report(`could not flush directory ${dir} (${(e as Error).message}): its latest changes may not survive a crash`);
    return false;
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}
