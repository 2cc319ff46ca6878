import { FalcError, inputError, workFailed } from "../core/errors.ts";
import type { StageContext } from "../core/stage.ts";
import type { Queue } from "../queue/types.ts";
import { scanConfig, scopeOf } from "./config.ts";
import type { ImportMode } from "./ledger.ts";
import { profilePortSet } from "./port-set.ts";
import type { Profile } from "./profile.ts";
import { discoverLive } from "./runner.ts";
import { recordResults, withLedger } from "./scan.ts";
import { expandTargets, type Target } from "./targets.ts";

/** What a sweep task was given: a submitted run's targets, swept once before any is scanned. */
export interface SweepJob {
  targets: string[];
  hostnames: Record<string, string[]>;
  profile: Profile;
  /** The payload's profile as given (a name or inline fields), passed on to the target tasks. */
  profileArg: unknown;
  project: string;
  mode: ImportMode;
  runId: string;
  scheduleId?: string;
}

export interface SweepResult {
  run_id: string;
  up: number;
  down: number;
  not_scanned: number;
  /** The target tasks of the live hosts (queued now or by an earlier attempt of this task). */
  tasks: { id: string; target: string }[];
}

/**
 * The id of a live target's task in a run: the same for every attempt of the sweep task, so a sweep
 * run again after a crash finds the tasks it queued before and never queues a target twice.
 */
export const targetTaskId = (runId: string, ip: string) => `${runId}-${ip.replace(/:/g, "_")}`;

/**
 * A submitted run's host sweep (the local form's, see runScan): one `nmap -sn` over every target,
 * the down, unreachable and timed-out addresses recorded in the run as a local run records them,
 * then one task per live host with the host discovery skipped.
 */
export async function runSweepTask(job: SweepJob, ctx: StageContext): Promise<SweepResult> {
  if (!ctx.queue) throw inputError("a host sweep task needs the queue to hand its live hosts to");
  const cfg = scanConfig(ctx.config);
  // The worker's own scope decides too: a target it may not scan is not swept by it.
  const set = await expandTargets(job.targets, { maxTargets: Math.max(cfg.max_targets, job.targets.length), scope: scopeOf(ctx.config) });
  const targets: Target[] = set.targets.map((t) => ({ ...t, hostnames: [...new Set([...t.hostnames, ...(job.hostnames[t.ip] ?? [])])] }));
  let found: Awaited<ReturnType<typeof discoverLive>>;
  try {
    found = await discoverLive(targets, { profile: job.profile, workDir: ctx.workDir, signal: ctx.signal, nmapBin: cfg.nmap, onProgress: (f) => ctx.progress(0.9 * f, "host sweep") });
  } catch (e) {
    const err = e instanceof FalcError ? e : workFailed(`host sweep failed: ${(e as Error).message}`);
    // The last attempt: the run says its targets were not scanned (a local run records them failed);
    // a cancel records nothing but the task's end.
    if (!ctx.signal.aborted && ctx.task.attempts >= ctx.task.maxAttempts)
      withLedger(ctx.home, (l) => l.appendManyToRun({ id: job.runId, project: job.project, profile: job.profile.name, mode: job.mode, scheduleId: job.scheduleId }, targets.map((t) => ({ target: t.ip, status: "failed", hosts: [] }))));
    throw err;
  }
  const { up, unreachable, timedOut } = found;
  const ends: { target: string; status: string; hosts: never[]; error?: string }[] = set.refused.map((r) => ({ target: r.ip ?? r.input, status: "refused", hosts: [], error: r.detail }));
  const down: string[] = [];
  for (const t of targets) {
    if (up.has(t.ip)) continue;
    const why = unreachable.get(t.ip);
    if (why) ends.push({ target: t.ip, status: "unreachable", hosts: [] });
    else if (timedOut.has(t.ip)) ends.push({ target: t.ip, status: "timed_out", hosts: [] });
    else {
      ends.push({ target: t.ip, status: "down", hosts: [] });
      down.push(t.ip);
    }
  }
  // Down is an answer: in replace mode it closes the ports the profile sweeps (as a local run does).
  const portSet = job.mode === "replace" && down.length ? await profilePortSet(job.profile, { workDir: ctx.workDir, nmapBin: cfg.nmap }) : undefined;
  const run = { id: job.runId, project: job.project, profile: job.profile.name, mode: job.mode, scheduleId: job.scheduleId };
  withLedger(ctx.home, (l) =>
    l.db.transaction(() => {
      if (down.length) recordResults(l, down.map((ip) => ({ ip, hostnames: [], status: "down", hosts: [], phases: [], scanned: {}, startedAt: 0, finishedAt: 0 })), { project: job.project, mode: job.mode, runId: job.runId, portSet });
      l.appendManyToRun(run, ends);
    }).immediate(),
  );
  const live = targets.filter((t) => up.has(t.ip));
  const tasks = await queueTargets(ctx.queue, live, job, ctx.task.id);
  ctx.progress(1, `${live.length} up, ${down.length} down`);
  return { run_id: job.runId, up: live.length, down: down.length, not_scanned: ends.length - down.length, tasks };
}

/** One task per live host under its run's id for it; ids already queued (an earlier attempt) are left as they are. */
async function queueTargets(q: Queue, live: Target[], job: SweepJob, parentId: string): Promise<{ id: string; target: string }[]> {
  const all = live.map((t) => ({ id: targetTaskId(job.runId, t.ip), target: t }));
  const missing: typeof all = [];
  for (const x of all) if (!(await q.get(x.id))) missing.push(x);
  const input = (x: (typeof all)[number]) => ({
    id: x.id, stage: "scan", parentId,
    payload: { target: x.target.ip, hostnames: x.target.hostnames, profile: job.profileArg, project: job.project, mode: job.mode, run_id: job.runId, swept: true, ...(job.scheduleId ? { schedule_id: job.scheduleId } : {}) },
  });
  try {
    if (missing.length) await q.enqueueMany(missing.map(input));
  } catch (e) {
    if (!(e instanceof FalcError && e.code === "conflict")) throw e;
    // Another attempt of this task got there first with some of them: queue the rest one by one.
    for (const x of missing) await q.enqueue(input(x)).catch((err) => { if (!(err instanceof FalcError && err.code === "conflict")) throw err; });
  }
  return all.map((x) => ({ id: x.id, target: x.target.ip }));
}

