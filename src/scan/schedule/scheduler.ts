import type { Config } from "../../core/config.ts";
import { nodeId } from "../../core/node-id.ts";
import { abortableSleep } from "../../core/stage.ts";
import type { Logger } from "../../core/logger.ts";
import { FINAL_STATUSES, newTaskId } from "../../core/task.ts";
import { FalcError } from "../../core/errors.ts";
import type { Queue } from "../../queue/types.ts";
import { scanConfig, scopeOf } from "../config.ts";
import { expandTargets } from "../targets.ts";
import { ScheduleStore, type Schedule } from "./store.ts";

export interface TickResult {
  schedule: string;
  enqueued: { ip: string; taskId: string }[];
  skipped: { ip: string; why: "active" | "recent" | "cap" }[];
}

/**
 * One pass over a schedule: a task per target, except targets whose previous task is still
 * active or finished within the interval, and never more active tasks than max_concurrent.
 * `force` (run-now) ignores the interval but still never starts a target twice at once.
 */
export async function runSchedule(queue: Queue, store: ScheduleStore, s: Schedule, cfg: Config, opts: { force?: boolean; now?: number } = {}): Promise<TickResult> {
  const now = opts.now ?? Date.now();
  const out: TickResult = { schedule: s.id, enqueued: [], skipped: [] };
  const set = await expandTargets(s.targets, { maxTargets: scanConfig(cfg).max_targets, scope: scopeOf(cfg) });
  const last = await store.lastTasks(s.id);
  let active = 0;
  // A target's task id is recorded before its task is queued, so a leader killed in between leaves an id
  // that the next leader queues under the same id (never a second task for the target within the interval).
  const due: { t: (typeof set.targets)[number]; id: string; runId: string }[] = [];
  for (const t of set.targets) {
    const prev = last.get(t.ip);
    const task = prev ? await queue.get(prev.taskId) : null;
    if (task && !FINAL_STATUSES.includes(task.status)) {
      active++;
      out.skipped.push({ ip: t.ip, why: "active" });
      continue;
    }
    if (prev && !task && now - prev.createdAt < s.everyS * 1000) {
      due.push({ t, id: prev.taskId, runId: prev.runId ?? `${s.id}-${prev.createdAt}` });
      continue;
    }
    const lastAt = task?.finishedAt ?? prev?.createdAt ?? 0;
    if (!opts.force && prev && now - lastAt < s.everyS * 1000) {
      out.skipped.push({ ip: t.ip, why: "recent" });
      continue;
    }
    due.push({ t, id: newTaskId(), runId: `${s.id}-${now}` });
  }
  for (const { t, id, runId } of due) {
    if (active >= s.maxConcurrent) {
      out.skipped.push({ ip: t.ip, why: "cap" });
      continue;
    }
    await store.setLastTask(s.id, t.ip, id, now, runId);
    try {
      await queue.enqueue({ id, stage: "scan", payload: { target: t.ip, hostnames: t.hostnames, profile: s.profile, project: s.project, mode: s.mode, run_id: runId, schedule_id: s.id } });
    } catch (e) {
      // Queued already under this id (a leader that stalled past its lock finished its enqueue): not twice.
      if (!(e instanceof FalcError && e.code === "conflict")) throw e;
    }
    out.enqueued.push({ ip: t.ip, taskId: id });
    active++;
  }
  if (out.enqueued.length) await store.markRun(s.id, now);
  return out;
}

export interface SchedulerOptions {
  queue: Queue;
  config: Config;
  log: Logger;
  signal: AbortSignal;
  /** Milliseconds between passes (default 5000). */
  tickMs?: number;
  /** Identity in the leader lock (default host:pid). */
  owner?: string;
  onTick?(results: TickResult[]): void;
  /** Leader lock TTL (default max(3 ticks, 15 s)); a dead leader is replaced after it. */
  lockTtlMs?: number;
}

export const SCHEDULER_LOCK = "scan-scheduler";

/**
 * The schedule loop, run inside `falc worker`: only the holder of the "scan-scheduler" lock
 * (one leader among all workers on the queue) creates tasks; the others wait to take over.
 */
export async function startScheduler(o: SchedulerOptions): Promise<void> {
  const tick = o.tickMs ?? 5000;
  const ttl = o.lockTtlMs ?? Math.max(3 * tick, 15_000);
  const owner = o.owner ?? `${nodeId(o.config)}:${process.pid}`;
  let leader = false;
  try {
    while (!o.signal.aborted) {
      const held: boolean = leader ? await o.queue.renewLock(SCHEDULER_LOCK, owner, ttl) : await o.queue.acquireLock(SCHEDULER_LOCK, owner, ttl);
      if (held !== leader) o.log.info({ event: held ? "scheduler_leader" : "scheduler_follower", owner }, held ? "scan scheduler: leader" : "scan scheduler: lost leadership");
      leader = held;
      if (leader) {
        // Schedules come from the queue's shared store: the leader runs every node's schedules.
        const store = await ScheduleStore.forQueue(o.queue, o.config.home);
        const results: TickResult[] = [];
        for (const s of await store.list()) {
          if (!s.enabled || o.signal.aborted) continue;
          try {
            const r = await runSchedule(o.queue, store, s, o.config);
            if (r.enqueued.length) o.log.info({ event: "schedule_run", schedule: s.id, enqueued: r.enqueued.length }, "scheduled scans queued");
            results.push(r);
          } catch (e) {
            o.log.warn({ event: "schedule_error", schedule: s.id, err: (e as Error).message }, "schedule skipped");
          }
        }
        o.onTick?.(results);
      }
      await abortableSleep(tick, o.signal).catch(() => {});
    }
  } finally {
    if (leader) await o.queue.releaseLock(SCHEDULER_LOCK, owner).catch(() => {});
  }
}
