import type { Database } from "bun:sqlite";
import { openStore, type Migration } from "../../core/store.ts";
import { join } from "node:path";
import { inputError, notFound, usageError } from "../../core/errors.ts";
import { ensureDir } from "../../core/paths.ts";
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

/** The schedule store's schema; 1 is the schema of files written before versioning. */
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

/** Schedules and the last task per (schedule, target), in FALC_HOME/scan/schedules.sqlite. */
export class ScheduleStore {
  readonly db: Database;
  constructor(path: string) {
    this.db = openStore(path, { name: "scan schedules", migrations: SCHEDULE_MIGRATIONS });
  }
  static open(home: string): ScheduleStore {
    return new ScheduleStore(join(ensureDir(join(home, "scan")), "schedules.sqlite"));
  }
  close(): void {
    this.db.close();
  }

  add(s: Omit<Schedule, "id" | "createdAt" | "lastRunAt" | "enabled"> & { id?: string }): Schedule {
    if (!IMPORT_MODES.includes(s.mode)) throw inputError(`mode must be one of ${IMPORT_MODES.join(", ")}`);
    const id = s.id ?? `sch-${Math.random().toString(36).slice(2, 10)}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id)) throw usageError(`schedule id \`${id.slice(0, 70)}\` must be letters, digits, _ . -`);
    if (this.db.query("SELECT 1 FROM schedules WHERE id=?").get(id)) throw usageError(`schedule \`${id}\` already exists`);
    const now = Date.now();
    this.db.query("INSERT INTO schedules (id, targets, profile, project, mode, every_s, max_concurrent, created_at) VALUES (?,?,?,?,?,?,?,?)")
      .run(id, JSON.stringify(s.targets), JSON.stringify(s.profile), s.project, s.mode, s.everyS, s.maxConcurrent, now);
    return this.get(id);
  }
  get(id: string): Schedule {
    const r = this.db.query("SELECT * FROM schedules WHERE id=?").get(id) as Record<string, any> | null;
    if (!r) throw notFound(`no schedule \`${id}\``);
    return toSchedule(r);
  }
  list(): Schedule[] {
    return (this.db.query("SELECT * FROM schedules ORDER BY created_at").all() as Record<string, any>[]).map(toSchedule);
  }
  remove(id: string): void {
    this.get(id);
    this.db.query("DELETE FROM schedule_targets WHERE schedule_id=?").run(id);
    this.db.query("DELETE FROM schedules WHERE id=?").run(id);
  }
  markRun(id: string, at: number): void {
    this.db.query("UPDATE schedules SET last_run_at=? WHERE id=?").run(at, id);
  }
  lastTasks(id: string): Map<string, { taskId: string; createdAt: number }> {
    const rows = this.db.query("SELECT ip, task_id, created_at FROM schedule_targets WHERE schedule_id=?").all(id) as { ip: string; task_id: string; created_at: number }[];
    return new Map(rows.map((r) => [r.ip, { taskId: r.task_id, createdAt: r.created_at }]));
  }
  setLastTask(id: string, ip: string, taskId: string, at: number): void {
    this.db.query("INSERT INTO schedule_targets (schedule_id, ip, task_id, created_at) VALUES (?,?,?,?) ON CONFLICT(schedule_id, ip) DO UPDATE SET task_id=excluded.task_id, created_at=excluded.created_at").run(id, ip, taskId, at);
  }
}

function toSchedule(r: Record<string, any>): Schedule {
  return { id: r.id, targets: JSON.parse(r.targets), profile: JSON.parse(r.profile), project: r.project, mode: r.mode, everyS: r.every_s, maxConcurrent: r.max_concurrent, enabled: !!r.enabled, createdAt: r.created_at, lastRunAt: r.last_run_at };
}
