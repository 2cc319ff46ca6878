import { dlopen, FFIType } from "bun:ffi";
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { usageError } from "../core/errors.ts";

/**
 * One worker process per tree: an flock(2) on `lock` in the tree's state directory, held for the
 * life of the process (the kernel drops it when the process dies, however it dies, so a stale
 * lock never needs clearing). A second process, a `--once` from cron beside the daemon, would
 * roll back or mix with the first one's commit. flock is taken per open file, so a second lock
 * in the same process is refused too.
 */
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

let flock: ((fd: number, op: number) => number) | null = null;

function sysFlock(): (fd: number, op: number) => number {
  if (flock) return flock;
  const lib = dlopen("libc.so.6", { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
  flock = (fd, op) => lib.symbols.flock(fd, op) as number;
  return flock;
}

export interface TreeLock {
  release(): void;
}

export function lockTree(stateDir: string, tree: string): TreeLock {
  const path = join(stateDir, "lock");
  const fd = openSync(path, "a+", 0o600);
  if (sysFlock()(fd, LOCK_EX | LOCK_NB) !== 0) {
    closeSync(fd);
    let holder = "";
    try {
      holder = readFileSync(path, "utf8").trim();
    } catch {}
    throw usageError(`another falc sync worker is already running on ${tree}${/^\d+$/.test(holder) ? ` (pid ${holder})` : ""}: one worker process per tree`);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`);
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      sysFlock()(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}
