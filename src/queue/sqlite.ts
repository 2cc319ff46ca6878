import type { Database } from "bun:sqlite";
import { conflict, inputError, notFound, unavailable } from "../core/errors.ts";
import {
  emptyStageStats,
  newTaskId,
  retryDelayMs,
  type EnqueueInput,
  type StageStats,
  type Task,
  type TaskError,
  type TaskEvent,
  type TaskEventType,
  type TaskFilter,
  type TaskStatus,
} from "../core/task.ts";
import type { WorkerRecord } from "../core/worker-state.ts";
import type { ClaimOptions, FailOptions, LeaseStatus, PruneOptions, Queue, TaskPage } from "./types.ts";
import { pollEvents } from "./poll-events.ts";
import { moved } from "./sqlite-counts.ts";
import { preferIncrementalVacuum, QUEUE_MIGRATIONS } from "./sqlite-schema.ts";
import { openStore } from "../core/store.ts";
import { pageRowids, type PageQuery } from "./sqlite-page.ts";
import { compactStep, countEndedSince, pruneBatch, pruneEventsInBatches } from "./sqlite-retention.ts";

export interface SqliteQueueOptions {
  /** Base of the exponential retry backoff. */
  retryBaseMs?: number;
  retryCapMs?: number;
  defaultMaxAttempts?: number;
  /** Events kept after pruning. */
  keepEvents?: number;
}


interface Row {
  id: string;
  stage: string;
  payload: string;
  status: TaskStatus;
  attempts: number;
  max_attempts: number;
  priority: number;
  created_at: number;
  queued_at: number | null;
  requested_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  run_at: number;
  timeout_s: number | null;
  error: string | null;
  result: string | null;
  parent_id: string | null;
  worker: string | null;
  lease_until: number | null;
  progress: number | null;
  progress_note: string | null;
  cancel_requested: number;
}

function toTask(r: Row): Task {
  return {
    id: r.id,
    stage: r.stage,
    payload: JSON.parse(r.payload),
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    priority: r.priority,
    createdAt: r.created_at,
    queuedAt: r.queued_at,
    requestedAt: r.requested_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    runAt: r.run_at,
    timeoutS: r.timeout_s,
    error: r.error ? JSON.parse(r.error) : null,
    result: r.result ? JSON.parse(r.result) : null,
    parentId: r.parent_id,
    worker: r.worker,
    leaseUntil: r.lease_until,
    progress: r.progress,
    progressNote: r.progress_note,
    cancelRequested: r.cancel_requested === 1,
  };
}

export class SqliteQueue implements Queue {
  readonly kind = "sqlite" as const;
  readonly url: string;
  private db: Database;
  private opts: Required<SqliteQueueOptions>;
  private closed = false;
  private ops = 0;

  constructor(path: string, opts: SqliteQueueOptions = {}) {
    this.url = `sqlite:${path}`;
    this.opts = { retryBaseMs: 1000, retryCapMs: 5 * 60_000, defaultMaxAttempts: 3, keepEvents: 200_000, ...opts };
    this.db = openStore(path, { name: "queue", migrations: QUEUE_MIGRATIONS, strict: true });
    try {
      preferIncrementalVacuum(this.db);
      // After a checkpoint the WAL file is cut back to this size instead of staying at its largest.
      this.db.exec("PRAGMA journal_size_limit = 67108864");
    } catch (e) {
      this.db.close();
      throw unavailable(`cannot open the queue database ${path}: ${(e as Error).message}`);
    }
  }

  private event(taskId: string, stage: string, type: TaskEventType, status: TaskStatus, worker: string | null, data?: Record<string, unknown>, at = Date.now()) {
    this.db
      .query("INSERT INTO events (at, task_id, stage, type, status, worker, data) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(at, taskId, stage, type, status, worker, data ? JSON.stringify(data) : null);
  }

  private row(id: string): Row | null {
    return this.db.query("SELECT * FROM tasks WHERE id = ?").get(id) as Row | null;
  }

  private insert<P>(input: EnqueueInput<P>, now: number): Task<P> {
    if (!input.stage) throw inputError("a task needs a stage");
    let payload: string;
    try {
      payload = JSON.stringify(input.payload ?? null);
    } catch (e) {
      throw inputError(`the payload cannot be stored as JSON: ${(e as Error).message}`);
    }
    const id = input.id ?? newTaskId();
    const runAt = input.runAt ?? now + Math.max(0, input.delayMs ?? 0);
    const maxAttempts = input.maxAttempts ?? this.opts.defaultMaxAttempts;
    try {
      this.db
        .query(
          `INSERT INTO tasks (id, stage, payload, status, max_attempts, priority, created_at, queued_at, run_at, timeout_s, parent_id, delayed)
           VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, input.stage, payload, maxAttempts, input.priority ?? 0, now, now, runAt, input.timeoutS ?? null, input.parentId ?? null, runAt > now ? 1 : 0);
    } catch (e) {
      if (String((e as Error).message).includes("UNIQUE")) throw conflict(`a task with id ${id} already exists`);
      throw e;
    }
    moved(this.db, input.stage, null, "queued", now);
    this.event(id, input.stage, "created", "created", null, undefined, now);
    this.event(id, input.stage, "queued", "queued", null, runAt > now ? { runAt } : undefined, now);
    return toTask(this.row(id)!) as Task<P>;
  }

  async enqueue<P>(input: EnqueueInput<P>): Promise<Task<P>> {
    return this.db.transaction(() => this.insert(input, Date.now())).immediate();
  }

  async enqueueMany<P>(inputs: EnqueueInput<P>[]): Promise<Task<P>[]> {
    return this.db.transaction(() => {
      const now = Date.now();
      return inputs.map((i) => this.insert(i, now));
    }).immediate();
  }

  private reapLocked(now: number): number {
    const expired = this.db
      .query("SELECT * FROM tasks WHERE status IN ('requested','started') AND lease_until < ?")
      .all(now) as Row[];
    for (const r of expired) {
      const err: TaskError = { message: `lease expired: worker ${r.worker ?? "?"} stopped answering`, code: "lease_expired", attempt: r.attempts };
      this.event(r.id, r.stage, "lease_expired", r.status, r.worker, { worker: r.worker });
      if (r.attempts >= r.max_attempts) {
        this.db
          .query("UPDATE tasks SET status='failed', finished_at=?, error=?, worker=NULL, lease_until=NULL WHERE id=?")
          .run(now, JSON.stringify(err), r.id);
        moved(this.db, r.stage, r.status, "failed", now);
        this.event(r.id, r.stage, "failed", "failed", r.worker, { error: err.message });
      } else {
        this.db
          .query("UPDATE tasks SET status='queued', delayed=1, queued_at=?, run_at=?, error=?, worker=NULL, lease_until=NULL, progress=NULL, progress_note=NULL WHERE id=?")
          .run(now, now, JSON.stringify(err), r.id);
        moved(this.db, r.stage, r.status, "queued", now);
        this.event(r.id, r.stage, "queued", "queued", null, { reason: "lease_expired" });
      }
    }
    // Cancelled while running and its holder died: nobody holds it now, so it can be retried.
    this.db.query("UPDATE tasks SET worker=NULL, lease_until=NULL WHERE status='cancelled' AND worker IS NOT NULL AND lease_until < ?").run(now);
    return expired.length;
  }

  private lastPrune = 0;
  private pruning = false;

  async reapExpired(): Promise<number> {
    const now = Date.now();
    // The sweep that reaps leases also keeps the event log bounded: small batches, often, never one long DELETE.
    if (now - this.lastPrune > 5_000 && !this.pruning) {
      this.lastPrune = now;
      void this.pruneEvents();
    }
    return this.db.transaction(() => this.reapLocked(now)).immediate();
  }

  async claim(opts: ClaimOptions): Promise<Task | null> {
    if (!opts.stages.length) return null;
    return this.db.transaction(() => this.claimLocked(opts)).immediate();
  }

  private claimLocked(opts: ClaimOptions): Task | null {
    if (!opts.stages.length) return null;
    const now = Date.now();
    // Reaping inside the claim keeps a dead worker's task from waiting for a separate sweeper.
    if (++this.ops % 20 === 1) this.reapLocked(now);
    // Delayed tasks whose time has come join the due ones: a range of tasks_waiting, nothing else.
    this.db.query("UPDATE tasks INDEXED BY tasks_waiting SET delayed=0 WHERE status='queued' AND delayed=1 AND run_at <= ?").run(now);
    // One index seek per stage in tasks_ready (due tasks only), the best of them wins.
    type Head = { id: string; stage: string; priority: number; created_at: number; rowid: number };
    let r: Head | null = null;
    for (const stage of opts.stages) {
      const c = this.db
        .query(
          `SELECT id, stage, priority, created_at, rowid FROM tasks INDEXED BY tasks_ready WHERE status='queued' AND delayed=0 AND stage=?
           ORDER BY priority DESC, created_at ASC, rowid ASC LIMIT 1`,
        )
        .get(stage) as Head | null;
      if (c && (!r || c.priority > r.priority || (c.priority === r.priority && (c.created_at < r.created_at || (c.created_at === r.created_at && c.rowid < r.rowid))))) r = c;
    }
    if (!r) return null;
    this.db
      .query(
        "UPDATE tasks SET status='requested', requested_at=?, worker=?, lease_until=?, attempts=attempts+1, progress=NULL, progress_note=NULL WHERE id=?",
      )
      .run(now, opts.worker, now + opts.leaseMs, r.id);
    moved(this.db, r.stage, "queued", "requested", now);
    this.event(r.id, r.stage, "requested", "requested", opts.worker);
    return toTask(this.row(r.id)!);
  }

  async start(id: string, worker: string): Promise<void> {
    this.db.transaction(() => {
      const now = Date.now();
      const res = this.db.query("UPDATE tasks SET status='started', started_at=? WHERE id=? AND worker=? AND status='requested'").run(now, id, worker);
      if (res.changes) {
        const r = this.row(id)!;
        moved(this.db, r.stage, "requested", "started", now);
        this.event(id, r.stage, "started", "started", worker);
      }
    }).immediate();
  }

  async heartbeat(id: string, worker: string, leaseMs: number): Promise<LeaseStatus> {
    return this.db.transaction(() => {
      const r = this.db.query("SELECT status, worker, cancel_requested FROM tasks WHERE id=?").get(id) as
        | { status: TaskStatus; worker: string | null; cancel_requested: number }
        | null;
      if (!r || r.worker !== worker) return { held: false, cancelRequested: false };
      if (r.status === "cancelled") return { held: false, cancelRequested: true };
      if (r.status !== "requested" && r.status !== "started") return { held: false, cancelRequested: false };
      this.db.query("UPDATE tasks SET lease_until=? WHERE id=?").run(Date.now() + leaseMs, id);
      return { held: true, cancelRequested: r.cancel_requested === 1 };
    }).immediate();
  }

  async progress(id: string, worker: string, fraction: number, note?: string): Promise<void> {
    this.db.transaction(() => {
      const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
      const res = this.db
        .query("UPDATE tasks SET progress=?, progress_note=? WHERE id=? AND worker=? AND status IN ('requested','started')")
        .run(f, note ?? null, id, worker);
      if (res.changes) {
        const r = this.row(id)!;
        this.event(id, r.stage, "progress", r.status, worker, { fraction: f, note: note ?? null });
      }
    }).immediate();
  }

  async complete(id: string, worker: string, result?: unknown): Promise<boolean> {
    return this.db.transaction(() => this.completeLocked(id, worker, result)).immediate();
  }

  async completeAndClaim(id: string, worker: string, result: unknown, next: ClaimOptions): Promise<{ completed: boolean; next: Task | null }> {
    return this.db.transaction(() => ({ completed: this.completeLocked(id, worker, result), next: this.claimLocked(next) })).immediate();
  }

  private completeLocked(id: string, worker: string, result?: unknown): boolean {
    const now = Date.now();
    const r = this.row(id);
    if (!r || r.worker !== worker) return false;
    const json = result === undefined ? null : JSON.stringify(result);
    if (r.status === "cancelled") {
      // Keep what a cancelled task had done (a partial scan), but it stays cancelled.
      this.db.query("UPDATE tasks SET result=?, worker=NULL, lease_until=NULL WHERE id=?").run(json, id);
      return false;
    }
    if (r.status !== "requested" && r.status !== "started") return false;
    this.db
      .query("UPDATE tasks SET status='finished', finished_at=?, result=?, worker=NULL, lease_until=NULL, progress=1 WHERE id=?")
      .run(now, json, id);
    moved(this.db, r.stage, r.status, "finished", now);
    this.event(id, r.stage, "finished", "finished", worker);
    return true;
  }

  async fail(id: string, worker: string, error: TaskError, opts: FailOptions = {}): Promise<Task | null> {
    return this.db.transaction(() => {
      const now = Date.now();
      const r = this.row(id);
      if (!r || r.worker !== worker) return null;
      const err = JSON.stringify({ ...error, attempt: r.attempts });
      if (r.status === "cancelled") {
        this.db.query("UPDATE tasks SET error=?, worker=NULL, lease_until=NULL WHERE id=?").run(err, id);
        return toTask(this.row(id)!);
      }
      if (r.status !== "requested" && r.status !== "started") return null;
      const retry = (opts.retry ?? true) && r.attempts < r.max_attempts;
      if (retry) {
        const delay = opts.delayMs ?? retryDelayMs(r.attempts, this.opts.retryBaseMs, this.opts.retryCapMs);
        this.db
          .query("UPDATE tasks SET status='queued', delayed=1, queued_at=?, run_at=?, error=?, worker=NULL, lease_until=NULL, progress=NULL, progress_note=NULL WHERE id=?")
          .run(now, now + delay, err, id);
        moved(this.db, r.stage, r.status, "queued", now);
        this.event(id, r.stage, "retry_scheduled", "queued", worker, { error: error.message, delayMs: delay, attempt: r.attempts });
        this.event(id, r.stage, "queued", "queued", null, { runAt: now + delay });
      } else {
        this.db.query("UPDATE tasks SET status='failed', finished_at=?, error=?, worker=NULL, lease_until=NULL WHERE id=?").run(now, err, id);
        moved(this.db, r.stage, r.status, "failed", now);
        this.event(id, r.stage, "failed", "failed", worker, { error: error.message });
      }
      return toTask(this.row(id)!);
    }).immediate();
  }

  async release(id: string, worker: string): Promise<boolean> {
    return this.db.transaction(() => {
      const now = Date.now();
      const r = this.row(id);
      if (!r || r.worker !== worker || (r.status !== "requested" && r.status !== "started")) return false;
      // The attempt was not the task's fault: give it back.
      this.db
        .query("UPDATE tasks SET status='queued', delayed=1, queued_at=?, run_at=?, attempts=MAX(attempts-1,0), worker=NULL, lease_until=NULL, progress=NULL, progress_note=NULL WHERE id=?")
        .run(now, now, id);
      moved(this.db, r.stage, r.status, "queued", now);
      this.event(id, r.stage, "queued", "queued", null, { reason: "released", worker });
      return true;
    }).immediate();
  }

  async cancel(id: string): Promise<Task> {
    return this.db.transaction(() => {
      const now = Date.now();
      const r = this.row(id);
      if (!r) throw notFound(`no task with id ${id}`);
      if (r.status === "finished" || r.status === "failed" || r.status === "cancelled")
        throw conflict(`task ${id} is already ${r.status}; only queued or running tasks can be cancelled`);
      const running = r.status === "requested" || r.status === "started";
      this.db
        .query("UPDATE tasks SET status='cancelled', finished_at=?, cancel_requested=? WHERE id=?")
        .run(now, running ? 1 : 0, id);
      moved(this.db, r.stage, r.status, "cancelled", now);
      if (running) this.event(id, r.stage, "cancel_requested", "cancelled", r.worker);
      this.event(id, r.stage, "cancelled", "cancelled", r.worker);
      return toTask(this.row(id)!);
    }).immediate();
  }

  async retry(id: string): Promise<Task> {
    return this.db.transaction(() => {
      const now = Date.now();
      const r = this.row(id);
      if (!r) throw notFound(`no task with id ${id}`);
      if (r.status !== "failed" && r.status !== "cancelled")
        throw conflict(`task ${id} is ${r.status}; only failed or cancelled tasks can be retried`);
      if (r.worker) throw conflict(`task ${id} is still being stopped by worker ${r.worker}; retry in a moment`);
      this.db
        .query(
          "UPDATE tasks SET status='queued', delayed=1, attempts=0, queued_at=?, run_at=?, finished_at=NULL, requested_at=NULL, started_at=NULL, cancel_requested=0, progress=NULL, progress_note=NULL WHERE id=?",
        )
        .run(now, now, id);
      moved(this.db, r.stage, r.status, "queued", now);
      this.event(id, r.stage, "queued", "queued", null, { reason: "retry" });
      return toTask(this.row(id)!);
    }).immediate();
  }

  async get(id: string): Promise<Task | null> {
    const r = this.row(id);
    return r ? toTask(r) : null;
  }

  async list(filter: TaskFilter = {}): Promise<Task[]> {
    return (await this.page({ ...filter, limit: filter.limit ?? 1000 })).tasks;
  }

  async page(filter: PageQuery): Promise<TaskPage> {
    return this.db.transaction(() => {
      const { rowids, next } = pageRowids(this.db, filter);
      const get = this.db.query("SELECT * FROM tasks WHERE rowid = ?");
      const tasks: Task[] = [];
      for (const r of rowids) {
        const row = get.get(r) as Row | null;
        if (row) tasks.push(toTask(row));
      }
      return { tasks, next };
    })();
  }

  async countEnded(since: number): Promise<Record<string, { finished: number; failed: number }>> {
    return countEndedSince(this.db, since);
  }

  async prune(opts: PruneOptions): Promise<number> {
    return pruneBatch(this.db, opts);
  }

  async compact(): Promise<void> {
    compactStep(this.db);
  }

  async stats(): Promise<Record<string, StageStats>> {
    // Kept by triggers on every insert, status change and delete (sqlite-schema.ts): no rows are counted.
    const rows = this.db.query("SELECT stage, status, n FROM task_counts WHERE n > 0").all() as {
      stage: string;
      status: TaskStatus;
      n: number;
    }[];
    const out: Record<string, StageStats> = {};
    for (const r of rows) (out[r.stage] ??= emptyStageStats())[r.status] = r.n;
    return out;
  }

  async events(since: number, limit = 1000): Promise<TaskEvent[]> {
    const rows = this.db.query("SELECT * FROM events WHERE seq > ? ORDER BY seq ASC LIMIT ?").all(since, limit) as {
      seq: number;
      at: number;
      task_id: string;
      stage: string;
      type: TaskEventType;
      status: TaskStatus;
      worker: string | null;
      data: string | null;
    }[];
    return rows.map((r) => ({
      seq: r.seq,
      at: r.at,
      taskId: r.task_id,
      stage: r.stage,
      type: r.type,
      status: r.status,
      worker: r.worker,
      data: r.data ? JSON.parse(r.data) : undefined,
    }));
  }

  subscribe(listener: (e: TaskEvent) => void, opts: { since?: number; intervalMs?: number } = {}): () => void {
    const since = opts.since ?? ((this.db.query("SELECT COALESCE(MAX(seq),0) AS s FROM events").get() as { s: number }).s);
    return pollEvents(this, listener, since, opts.intervalMs ?? 250);
  }

  /** Trim the event log so it does not grow without bound, in small batches with the WAL checkpointed. */
  async pruneEvents(): Promise<number> {
    if (this.pruning || this.closed) return 0;
    this.pruning = true;
    try {
      return await pruneEventsInBatches(this.db, this.opts.keepEvents);
    } catch {
      return 0; // closed meanwhile, or busy: the next sweep tries again
    } finally {
      this.pruning = false;
    }
  }

  async acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.db.transaction(() => {
      const now = Date.now();
      this.db.query("DELETE FROM locks WHERE key=? AND expires_at < ?").run(key, now);
      const res = this.db.query("INSERT OR IGNORE INTO locks (key, owner, expires_at) VALUES (?, ?, ?)").run(key, owner, now + ttlMs);
      if (res.changes) return true;
      const cur = this.db.query("SELECT owner FROM locks WHERE key=?").get(key) as { owner: string } | null;
      if (cur?.owner === owner) {
        this.db.query("UPDATE locks SET expires_at=? WHERE key=?").run(now + ttlMs, key);
        return true;
      }
      return false;
    }).immediate();
  }

  async renewLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const res = this.db.query("UPDATE locks SET expires_at=? WHERE key=? AND owner=? AND expires_at >= ?").run(Date.now() + ttlMs, key, owner, Date.now());
    return res.changes > 0;
  }

  async releaseLock(key: string, owner: string): Promise<boolean> {
    return this.db.query("DELETE FROM locks WHERE key=? AND owner=?").run(key, owner).changes > 0;
  }

  async putWorker(rec: WorkerRecord, ttlMs: number): Promise<void> {
    this.db.query("INSERT OR REPLACE INTO workers (name, rec, expires_at) VALUES (?, ?, ?)").run(rec.name, JSON.stringify(rec), Date.now() + ttlMs);
  }

  async removeWorker(name: string): Promise<void> {
    this.db.query("DELETE FROM workers WHERE name=?").run(name);
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    this.db.query("DELETE FROM workers WHERE expires_at < ?").run(Date.now());
    return (this.db.query("SELECT rec FROM workers ORDER BY name").all() as { rec: string }[]).map((r) => JSON.parse(r.rec));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close(false);
  }
}
