import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import { openStore, type Migration } from "../../core/store.ts";
import type { DocStore, Queue } from "../../queue/types.ts";
import { inputError, notFound, usageError } from "../../core/errors.ts";
import { IMPORT_MODES, type ImportMode } from "../ledger.ts";
import type { ProfileInput } from "../profile.ts";

export interface Schedule {
  id: string;
  targets: string[];
  /** A built-in profile name, or the validated fields of a YAML profile. */
  profile: string | ProfileInput;
  project: string;
  mode: ImportMode;
  everyS: number;
  maxConcurrent: number;
  enabled: boolean;
  createdAt: number;
  lastRunAt: number | null;
}

/** "30m", "6h", "1d" → seconds (at least one minute). */
export function parseEvery(s: string): number {
  const m = /^(\d{1,6})(m|h|d)$/.exec(s.trim());
  if (!m) throw usageError(`--every must look like 30m, 6h or 1d, got \`${s}\``);
  const n = Number(m[1]) * { m: 60, h: 3600, d: 86400 }[m[2] as "m" | "h" | "d"];
  if (n < 60) throw usageError("--every must be at least 1m");
  return n;
}

export function formatEvery(s: number): string {
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  return `${Math.round(s / 60)}m`;
}

/** The schema of the per-home schedule file written by earlier falc versions (read once, to import it). */
export const SCHEDULE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "schedules and their last task per target",
    up: `
      CREATE TABLE IF NOT EXISTS schedules (id TEXT PRIMARY KEY, targets TEXT NOT NULL, profile TEXT NOT NULL, project TEXT NOT NULL, mode TEXT NOT NULL,
        every_s INTEGER NOT NULL, max_concurrent INTEGER NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, created_at INTEGER NOT NULL, last_run_at INTEGER);
      CREATE TABLE IF NOT EXISTS schedule_targets (schedule_id TEXT NOT NULL, ip TEXT NOT NULL, task_id TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (schedule_id, ip));`,
  },
];

const KIND = "scan_schedule";
const targetsKind = (id: string) => `scan_schedule_targets:${id}`;
interface LastTask {
  taskId: string;
  createdAt: number;
  /** The run the task belongs to (one per tick of the schedule). */
  runId?: string;
}

/**
 * Schedules and the last task per (schedule, target), kept as shared documents on the queue backend
 * (the SQLite queue's file, or Redis), so every node on the queue sees the same schedules and the elected
 * scheduler leader runs all of them, whichever node they were created on.
 */
export class ScheduleStore {
  constructor(private docs: DocStore) {}

  /** The store of this queue; schedules a local file of an earlier falc holds are brought in first (once). */
  static async forQueue(queue: Queue, home: string): Promise<ScheduleStore> {
    const store = new ScheduleStore(queue.docs());
    await importLegacy(store, home);
    return store;
  }

  async add(s: Omit<Schedule, "id" | "createdAt" | "lastRunAt" | "enabled"> & { id?: string; enabled?: boolean; createdAt?: number; lastRunAt?: number | null }): Promise<Schedule> {
    if (!IMPORT_MODES.includes(s.mode)) throw inputError(`mode must be one of ${IMPORT_MODES.join(", ")}`);
    const id = s.id ?? `sch-${Math.random().toString(36).slice(2, 10)}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id)) throw usageError(`schedule id \`${id.slice(0, 70)}\` must be letters, digits, _ . -`);
    const rec: Schedule = {
      id, targets: s.targets, profile: s.profile, project: s.project, mode: s.mode, everyS: s.everyS, maxConcurrent: s.maxConcurrent,
      enabled: s.enabled ?? true, createdAt: s.createdAt ?? Date.now(), lastRunAt: s.lastRunAt ?? null,
    };
    if (!(await this.docs.put(KIND, id, rec, { ifAbsent: true }))) throw usageError(`schedule \`${id}\` already exists`);
    return rec;
  }
  async get(id: string): Promise<Schedule> {
    const s = await this.docs.get<Schedule>(KIND, id);
    if (!s) throw notFound(`no schedule \`${id}\``);
    return s;
  }
  async list(): Promise<Schedule[]> {
    return (await this.docs.list<Schedule>(KIND)).map((d) => d.value).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }
  async remove(id: string): Promise<void> {
    await this.get(id);
    await this.docs.clear(targetsKind(id));
    await this.docs.delete(KIND, id);
  }
  async markRun(id: string, at: number): Promise<void> {
    const s = await this.docs.get<Schedule>(KIND, id);
    if (s) await this.docs.put(KIND, id, { ...s, lastRunAt: at });
  }
  async lastTasks(id: string): Promise<Map<string, LastTask>> {
    return new Map((await this.docs.list<LastTask>(targetsKind(id))).map((d) => [d.id, d.value]));
  }
  async setLastTask(id: string, ip: string, taskId: string, at: number, runId?: string): Promise<void> {
    await this.docs.put(targetsKind(id), ip, runId ? { taskId, createdAt: at, runId } : { taskId, createdAt: at });
  }
}

/**
 * Earlier falc kept schedules in FALC_HOME/scan/schedules.sqlite, seen by that node alone. Its schedules
 * (and last tasks) are copied into the queue's store where no schedule of that id exists yet, then the file
 * is renamed aside (kept, not deleted), so they run from any node and are never imported twice.
 */
async function importLegacy(store: ScheduleStore, home: string): Promise<void> {
  const path = join(home, "scan", "schedules.sqlite");
  if (!existsSync(path)) return;
  const db = openStore(path, { name: "scan schedules", migrations: SCHEDULE_MIGRATIONS });
  try {
    const rows = db.query("SELECT * FROM schedules ORDER BY created_at").all() as Record<string, any>[];
    for (const r of rows) {
      const s = toSchedule(r);
      try {
        await store.add(s);
      } catch (e) {
        if (!/already exists/.test((e as Error).message)) throw e;
        continue;
      }
      const targets = db.query("SELECT ip, task_id, created_at FROM schedule_targets WHERE schedule_id=?").all(s.id) as { ip: string; task_id: string; created_at: number }[];
      for (const t of targets) await store.setLastTask(s.id, t.ip, t.task_id, t.created_at);
    }
  } finally {
    db.close();
  }
  renameSync(path, `${path}.imported-${Date.now()}`);
  for (const ext of ["-wal", "-shm"]) if (existsSync(path + ext)) renameSync(path + ext, `${path}.imported${ext}`);
}

function toSchedule(r: Record<string, any>): Schedule {
  return { id: r.id, targets: JSON.parse(r.targets), profile: JSON.parse(r.profile), project: r.project, mode: r.mode, everyS: r.every_s, maxConcurrent: r.max_concurrent, enabled: !!r.enabled, createdAt: r.created_at, lastRunAt: r.last_run_at };
}
