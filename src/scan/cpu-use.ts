import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const HZ = 100;

/** utime+stime in ticks and whether it is runnable (running or waiting for a CPU). */
function statOf(pid: number): { ticks: number; runnable: boolean } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // From the state field (3): utime and stime are fields 14 and 15.
    return { ticks: Number(f[11]) + Number(f[12]), runnable: f[0] === "R" };
  } catch {
    return { ticks: 0, runnable: false };
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU seconds used so far by a process and everything below it (a wrapper script's nmap too), and
 * whether any of them is runnable now.
 */
export function cpuOf(pid: number): { seconds: number; runnable: boolean } {
  let ticks = 0;
  let runnable = false;
  const todo = [pid];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    const s = statOf(p);
    ticks += s.ticks;
    runnable ||= s.runnable;
    todo.push(...childrenOf(p));
  }
  return { seconds: ticks / HZ, runnable };
}

/** Samples per window of watchLight. */
const SAMPLES = 10;

/**
 * Calls `onLight` once, the first time `pid` (with its children) used less than `share` of a core
 * over a whole window of `windowMs` and was runnable in less than `share` of the samples taken
 * in it; returns the stop. A port sweep of a host that answers is CPU-bound (raw packets out, one
 * reply in per port); one of a filtered host mostly sleeps, waiting for replies that never come,
 * and need not hold a CPU slot. Runnable counts too so a sweep starved of CPU by a loaded machine
 * (little CPU used, but wanting it) is not taken for a light one.
 */
export function watchLight(pid: number, o: { share: number; windowMs: number; onLight(): void }): () => void {
  let last = cpuOf(pid).seconds;
  let at = performance.now();
  let samples = 0, runnable = 0;
  const timer = setInterval(() => {
    const now = cpuOf(pid);
    samples++;
    if (now.runnable) runnable++;
    if (samples < SAMPLES) return;
    const t = performance.now();
    const share = (now.seconds - last) / ((t - at) / 1000);
    const busy = runnable / samples;
    last = now.seconds;
    at = t;
    samples = runnable = 0;
    if (share < o.share && busy < o.share) {
      clearInterval(timer);
      o.onLight();
    }
  }, o.windowMs / SAMPLES);
  return () => clearInterval(timer);
}
