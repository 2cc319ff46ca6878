import type { PhaseName } from "./phase.ts";

/** A counting semaphore: await it for a slot; call what it returns to give the slot back (once). */
export function semaphore(n: number): () => Promise<() => void> {
  let free = n;
  const waiting: (() => void)[] = [];
  return () =>
    new Promise((res) => {
      const grant = () => {
        free--;
        let done = false;
        res(() => {
          if (done) return;
          done = true;
          free++;
          waiting.shift()?.();
        });
      };
      if (free > 0) grant();
      else waiting.push(grant);
    });
}

export interface GateLimits {
  /** Sweeps at once (CPU-bound: about one per core). */
  discovery: number;
  /** Service scans at once (they mostly wait on probes). */
  service: number;
  /** nmap processes at once whatever their phase (scan.max_nmap). */
  any?: number;
}

/**
 * The slots a run's nmaps wait for. A run takes its phase's slot first and the overall one
 * second: a sweep queued behind the sweeps running must not hold an overall slot while it
 * waits, or queued sweeps fill every overall slot and the service scans (the slow part, ≈6 s of
 * waiting for banners) cannot start until the sweeps are done. Nobody holds an overall slot while
 * waiting for a phase slot, so no two holders wait on each other.
 */
export function phaseGates(l: GateLimits): (phase: PhaseName) => Promise<() => void> {
  const discovery = semaphore(Math.max(1, l.discovery));
  const service = semaphore(Math.max(1, l.service));
  const any = semaphore(l.any ?? Number.MAX_SAFE_INTEGER);
  return async (phase) => {
    const inner = await (phase === "discovery" ? discovery() : service());
    const outer = await any();
    return () => { outer(); inner(); };
  };
}
