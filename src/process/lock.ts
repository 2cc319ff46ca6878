import { dlopen } from "bun:ffi";
import { closeSync, fstatSync, openSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { unavailable } from "../core/errors.ts";

/**
 * A lock file beside analysis.json, so two post workers finishing tasks of the same analysis never lose
 * each other's update. The lock is the kernel's (flock on the file): a holder that dies releases it with
 * its descriptors, so there is no stale-lock guessing (which let a waiter unlink a lock another waiter
 * had just taken). The holder unlinks the file before it lets go; a waiter that then gets the lock on
 * the unlinked file sees that the path no longer names its file and tries again.
 */
const host = hostname();
const LOCK_EX = 2;
const LOCK_NB = 4;

let flock: ((fd: number, op: number) => number) | undefined;
function libcFlock(): (fd: number, op: number) => number {
  flock ??= dlopen("libc.so.6", { flock: { args: ["i32", "i32"], returns: "i32" } }).symbols.flock as (fd: number, op: number) => number;
  return flock;
}

function sameFile(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

export async function withFileLock<T>(path: string, fn: () => T | Promise<T>, timeoutMs = 30_000): Promise<T> {
  const lock = libcFlock();
  const deadline = Date.now() + timeoutMs;
  let fd = -1;
  for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
    fd = openSync(path, "a+", 0o644);
    if (lock(fd, LOCK_EX | LOCK_NB) === 0) {
      if (sameFile(fd, path)) break;
      // Locked a file its holder had already unlinked: the lock is on the new file, if any.
      closeSync(fd);
      continue;
    }
    closeSync(fd);
    if (Date.now() > deadline) throw unavailable(`${path} is still locked after ${timeoutMs / 1000} s`);
    await Bun.sleep(wait);
  }
  // Who holds it, for a person looking at the file (the kernel's lock is what counts).
  try {
    writeSync(fd, `${host} ${process.pid}\n`);
  } catch {}
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {}
    closeSync(fd);
  }
}
