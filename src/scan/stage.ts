import { z } from "zod";
import { inputError, workFailed } from "../core/errors.ts";
import type { StageContext, StageHandler } from "../core/stage.ts";
import { scanConfig, scopeOf } from "./config.ts";
import { IMPORT_MODES } from "./ledger.ts";
import { loadProfile, profileSchema, validateProfile, type Profile } from "./profile.ts";
import { SCANNED_STATUSES, type PhaseRecord } from "./runner.ts";
import { recordResults, scanOne, withLedger } from "./scan.ts";
import { runSweepTask } from "./sweep-task.ts";
import { expandTargets } from "./targets.ts";

/** One task per target (Falcoria): the address, the profile (a name or inline fields) and the project. */
export const targetPayloadSchema = z
  .object({
    target: z.string().min(1).max(253),
    hostnames: z.array(z.string().max(253)).max(64).default([]),
    profile: z.union([z.string().min(1).max(200), profileSchema]).default("default"),
    project: z.string().min(1).max(64).default("default"),
    mode: z.enum(IMPORT_MODES).optional(),
    run_id: z.string().max(100).optional(),
    /** The schedule that queued it: its runs are compared with each other by `scan diff`. */
    schedule_id: z.string().max(100).optional(),
    /** The run's host sweep found the target up: its own scan skips host discovery. */
    swept: z.boolean().optional(),
  })
  .strict();

/**
 * A submitted run's host sweep (`falc scan --submit`): one `nmap -sn` over all its targets, then one
 * target task per live host. Targets are addresses (checked at submit and again by the worker's scope).
 */
export const sweepPayloadSchema = z
  .object({
    targets: z.array(z.string().min(1).max(253)).min(1),
    hostnames: z.record(z.string(), z.array(z.string().max(253)).max(64)).default({}),
    profile: z.union([z.string().min(1).max(200), profileSchema]).default("default"),
    project: z.string().min(1).max(64).default("default"),
    mode: z.enum(IMPORT_MODES).optional(),
    run_id: z.string().min(1).max(100),
    schedule_id: z.string().max(100).optional(),
  })
  .strict();

export const scanPayloadSchema = z.union([targetPayloadSchema, sweepPayloadSchema]);
export type ScanPayload = z.infer<typeof scanPayloadSchema>;
type TargetPayload = z.infer<typeof targetPayloadSchema>;

export const scanStage: StageHandler<ScanPayload, unknown> = {
  name: "scan",
  description: "two-phase nmap scan of one target (open ports, then services) into the ledger, or a run's host sweep that queues its live targets",
  payloadSchema: scanPayloadSchema,
  defaultTimeoutS: 3600,
  // Scheduled scans are created by one leader among all workers that serve the scan stage.
  service: (ctx) => import("./schedule/scheduler.ts").then((m) => m.startScheduler(ctx)),
  async run(payload, ctx) {
    const cfg = scanConfig(ctx.config);
    const profile = typeof payload.profile === "string" ? loadProfile(payload.profile) : validateProfile(payload.profile, "inline", "payload");
    if ("targets" in payload)
      return runSweepTask({ targets: payload.targets, hostnames: payload.hostnames, profile, profileArg: payload.profile, project: payload.project, mode: payload.mode ?? cfg.mode, runId: payload.run_id, scheduleId: payload.schedule_id }, ctx);
    return scanTargetTask(payload, profile, ctx);
  },
};

async function scanTargetTask(payload: TargetPayload, named: Profile, ctx: StageContext) {
  const cfg = scanConfig(ctx.config);
  // Found up by the run's sweep: the target's own scan need not ask again (as in a local run).
  const profile = payload.swept ? { ...named, skip_host_discovery: true } : named;
  const set = await expandTargets([payload.target], { maxTargets: 1, scope: scopeOf(ctx.config) });
  if (set.refused.length) throw inputError(`target ${payload.target} refused: ${set.refused[0]!.reason} (${set.refused[0]!.detail})`);
  const t = set.targets[0];
  if (!t) throw inputError(`target ${payload.target} gave no address`);
  t.hostnames = [...new Set([...t.hostnames, ...payload.hostnames])];
  const mode = payload.mode ?? cfg.mode;
  const runId = payload.run_id ?? ctx.task.id;
  const result = await scanOne(t, {
    profile,
    home: ctx.home,
    queue: ctx.queue,
    nmapBin: cfg.nmap,
    lockTtlMs: cfg.lock_ttl_s * 1000,
    lockWait: true,
    signal: ctx.signal,
    workDir: ctx.workDir,
    owner: `${ctx.worker}:${process.pid}:${ctx.task.id}`,
    onProgress: (f, note) => ctx.progress(f, note),
  });
  const scanned = SCANNED_STATUSES.includes(result.status);
  // Only a target that was scanned changes the ledger; the run records every target's end.
  const stats = withLedger(ctx.home, (l) =>
    l.db.transaction(() => {
      const s = scanned ? recordResults(l, [result], { project: payload.project, mode, runId }) : null;
      l.appendToRun({ id: runId, project: payload.project, profile: profile.name, mode, target: t.ip, status: result.status, hosts: scanned ? result.hosts : [], scheduleId: payload.schedule_id });
      return s;
    }).immediate(),
  );
  if (!scanned) {
    const msg = `${t.ip} ${result.status.replace("_", " ")}${result.error ? `: ${result.error}` : ""}`;
    // Another try cannot give a route or a permission; a timeout or a failure may pass.
    throw result.status === "unreachable" ? inputError(msg) : workFailed(msg);
  }
  return { ip: result.ip, status: result.status, phases: result.phases.map(({ argv: _a, ...p }: PhaseRecord) => p), hosts: result.hosts, stats };
}
