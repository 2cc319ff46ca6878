import { readdirSync, readFileSync } from "node:fs";

/**
 * Process groups: the one place that signals a group and waits until it is really gone.
 *
 * "Gone" means no live member: a zombie still answers kill(-pgid, 0), and in a container whose pid 1 does not
 * reap, an orphan's zombie can stay for ever; so membership is read from /proc (state Z does not count).
 */

/**
 * The fields of /proc/PID/stat after "(comm)" (state, ppid, pgrp, …; field n of proc(5) is [n - 3]), or null
 * when the process is gone: the one place that reads them.
 */
export function procStat(pid: number | string): string[] | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null; // exited while we looked
  }
  // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** procStat of a process that can still run: null when it is gone, a zombie or dead. */
export function liveStat(pid: number | string): string[] | null {
  const f = procStat(pid);
  return f && f[0] !== "Z" && f[0] !== "X" ? f : null;
}

/** Live (non-zombie) processes whose process group is `pgid`. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return groupAliveBySignal(pgid) ? [pgid] : [];
  }
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    if (Number(liveStat(name)?.[2]) === pgid) out.push(Number(name));
  }
  return out;
}

function groupAliveBySignal(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether any live process is left in the group. */
export function groupAlive(pgid: number): boolean {
  return groupMembers(pgid).length > 0;
}

/** Send `signal` to the whole group; false when nothing was there to signal. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | number): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`refusing to signal process group ${pgid}`);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Resolve once the group has no live member, or with false at the deadline. */
export async function waitGroupGone(pgid: number, timeoutMs: number, pollMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!groupAlive(pgid)) return true;
    if (Date.now() >= deadline) return false;
    await Bun.sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}

/**
 * TERM the group, give it `graceMs` to leave, then KILL it and wait until no member is left.
 * Resolves true once the group is known dead; false only if members survive SIGKILL for `killWaitMs`
 * (a process stuck in uninterruptible sleep): the caller must then not assume the work has stopped.
 * A SIGSTOP'd member is sent SIGCONT after TERM so that it can act on it (KILL needs no CONT).
 */
export async function killProcessGroup(pgid: number, graceMs = 2000, killWaitMs = 5000): Promise<boolean> {
  if (!groupAlive(pgid)) return true;
  if (graceMs > 0) {
    signalGroup(pgid, "SIGTERM");
    signalGroup(pgid, "SIGCONT");
    if (await waitGroupGone(pgid, graceMs)) return true;
  }
  signalGroup(pgid, "SIGKILL");
  return waitGroupGone(pgid, killWaitMs);
}
