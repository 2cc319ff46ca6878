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

export function fsyncDir(dir: string): void {
  try {
    const dfd = openSync(dir, "r");
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch {}
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}
