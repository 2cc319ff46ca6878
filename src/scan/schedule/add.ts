import type { Config } from "../../core/config.ts";
import type { Queue } from "../../queue/types.ts";
import { usageError } from "../../core/errors.ts";
import { scanConfig, scopeOf } from "../config.ts";
import { IMPORT_MODES, type ImportMode } from "../ledger.ts";
import { BUILTIN_PROFILES, loadProfile } from "../profile.ts";
import { expandTargets, parseSpec, readTargetsFile } from "../targets.ts";
import { parseEvery, ScheduleStore, type Schedule } from "./store.ts";

/**
 * Check a schedule and store it: the interval, the targets (host names are resolved at each run,
 * never here) and the profile are checked now, so a bad schedule is never stored. A YAML profile
 * is stored by value: the schedule does not change when the file does.
 */
export async function addSchedule(config: Config, queue: Queue, a: { targets: string[]; targetsFile?: string; every: string; profile: string; project: string; mode?: string; id?: string; maxConcurrent?: number; warn(line: string): void }): Promise<Schedule> {
  const everyS = parseEvery(a.every);
  const specs = [...a.targets, ...(a.targetsFile ? readTargetsFile(a.targetsFile) : [])];
  if (!specs.length) throw usageError("no targets: give addresses, CIDRs, ranges or hostnames, or --targets-file");
  const cfg = scanConfig(config);
  const literal = specs.filter((x) => parseSpec(x).kind !== "host");
  const set = await expandTargets(literal, { maxTargets: cfg.max_targets, scope: scopeOf(config) });
  for (const r of set.refused) if (r.reason === "out_of_scope") a.warn(`${r.ip} (out_of_scope): ${r.detail}`);
  const p = loadProfile(a.profile);
  const mode = (a.mode ?? cfg.mode) as ImportMode;
  if (!IMPORT_MODES.includes(mode)) throw usageError(`--mode must be one of ${IMPORT_MODES.join(", ")}`);
  const { name: _n, ...fields } = p;
  const store = await ScheduleStore.forQueue(queue, config.home);
  return store.add({
    id: a.id, targets: specs, profile: BUILTIN_PROFILES.includes(a.profile) ? a.profile : { ...fields, name: p.name },
    project: a.project, mode, everyS, maxConcurrent: a.maxConcurrent ?? 8,
  });
}
