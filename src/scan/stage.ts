import { z } from "zod";
import { inputError } from "../core/errors.ts";
import type { StageHandler } from "../core/stage.ts";
import { scanConfig, scopeOf } from "./config.ts";
import { IMPORT_MODES } from "./ledger.ts";
import { loadProfile, profileSchema, validateProfile } from "./profile.ts";
import { scanOne } from "./scan.ts";
import { expandTargets } from "./targets.ts";

/** One task per target (Falcoria): the address, the profile (a name or inline fields) and the project. */
export const scanPayloadSchema = z
  .object({
    target: z.string().min(1).max(253),
    hostnames: z.array(z.string().max(253)).max(64).default([]),
    profile: z.union([z.string().min(1).max(200), profileSchema]).default("default"),
    project: z.string().min(1).max(64).default("default"),
    mode: z.enum(IMPORT_MODES).optional(),
    run_id: z.string().max(100).optional(),
  })
  .strict();
export type ScanPayload = z.infer<typeof scanPayloadSchema>;

export const scanStage: StageHandler<ScanPayload, unknown> = {
  name: "scan",
  description: "two-phase nmap scan of one target (open ports, then services) into the ledger",
  payloadSchema: scanPayloadSchema,
  defaultTimeoutS: 3600,
  // Scheduled scans are created by one leader among all workers that serve the scan stage.
  service: (ctx) => import("./schedule/scheduler.ts").then((m) => m.startScheduler(ctx)),
  async run(payload, ctx) {
    const cfg = scanConfig(ctx.config);
    const profile = typeof payload.profile === "string" ? loadProfile(payload.profile) : validateProfile(payload.profile, "inline", "payload");
    const set = await expandTargets([payload.target], { maxTargets: 1, scope: scopeOf(ctx.config) });
    if (set.refused.length) throw inputError(`target ${payload.target} refused: ${set.refused[0]!.reason} (${set.refused[0]!.detail})`);
    const t = set.targets[0];
    if (!t) throw inputError(`target ${payload.target} gave no address`);
    t.hostnames = [...new Set([...t.hostnames, ...payload.hostnames])];
    const { result, stats } = await scanOne(t, {
      profile,
      project: payload.project,
      mode: payload.mode ?? cfg.mode,
      home: ctx.home,
      queue: ctx.queue,
      nmapBin: cfg.nmap,
      lockTtlMs: cfg.lock_ttl_s * 1000,
      signal: ctx.signal,
      workDir: ctx.workDir,
      owner: `${ctx.worker}:${process.pid}:${ctx.task.id}`,
      runId: payload.run_id ?? ctx.task.id,
      recordRun: true,
      onProgress: (f, note) => ctx.progress(f, note),
    });
    return { ip: result.ip, status: result.status, phases: result.phases.map(({ argv: _a, ...p }) => p), hosts: result.hosts, stats };
  },
};
