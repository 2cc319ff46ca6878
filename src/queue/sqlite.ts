import type { Database } from "bun:sqlite";
import { SqliteDocs } from "./sqlite-docs.ts";
import { conflict, inputError, notFound, unavailable } from "../core/errors.ts";
import {
  emptyStageStats,
  newTaskId,
  payloadJson,
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
import type { ClaimOptions, DocStore, FailOptions, LeaseStatus, PruneOptions, Queue, TaskPage } from "./types.ts";
import { pollEvents } from "./poll-events.ts";
import { moved } from "./sqlite-counts.ts";
import { preferIncrementalVacuum, QUEUE_MIGRATIONS } from "./sqlite-schema.ts";
import { openStore } from "../core/store.ts";
import { pageRowids, sqliteSearchSource, type PageQuery } from "./sqlite-page.ts";
import { searchPage } from "./search-page.ts";
import { compactStep, countEndedBetween, pruneBatch, pruneEventsInBatches } from "./sqlite-retention.ts";

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
  fence: number;
  errors: string | null;
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
    token: r.fence ?? 0,
    errors: r.errors ? JSON.parse(r.errors) : [],
  };
}

/**
 * The fence: a call is the holder's only with the holder's worker id and, when given, the attempt token of
 * the hand-over it answers for (a woken handler's old run carries an older token than the task's).
 */
function holds(r: { worker: string | null; fence: number }, worker: string, token: number | undefined): boolean {
  return r.worker === worker && (token === undefined || r.fence === token);
}

/** How long one attempt waits for another process's write lock, and how long write() keeps trying. */
const BUSY_SLICE_MS = 20;
const BUSY_WAIT_MS = 10_000;

function isBusy(e: unknown): boolean {
  const x = e as { code?: string; errno?: number; message?: string };
  return x?.code === "SQLITE_BUSY" || x?.errno === 5 || /database is locked/i.test(x?.message ?? "");
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
      // From now on a lock held by another process is waited for in short slices between which the event loop
      // runs (write() below): a handler stays able to answer /health and renew leases while it waits.
      this.db.exec(`PRAGMA busy_timeout = ${BUSY_SLICE_MS}`);
    } catch (e) {
      this.db.close();
      throw unavailable(`cannot open the queue database ${path}: ${(e as Error).message}`);
    }
  }

  /**
   * A write transaction (BEGIN IMMEDIATE). When another process holds the write lock, the attempt gives up after
   * BUSY_SLICE_MS and is tried again after an await, for up to BUSY_WAIT_MS in all: the same patience as a
   * 10 s busy_timeout, without freezing this process's event loop meanwhile.
   */
  private async write<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      try {
        return this.db.transaction(fn).immediate();
      } catch (e) {
        if (!isBusy(e) || Date.now() >= deadline) throw e;
      }
      await Bun.sleep(pause);
    }
  }

  private event(taskId: string, stage: string, type: TaskEventType, status: TaskStatus, worker: string | null, data?: Record<string, unknown>, at = Date.now()) {
    this.db
      .query("INSERT INTO events (at, task_id, stage, type, status, worker, data) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(at, taskId, stage, type, status, worker, data ? JSON.stringify(data) : null);
  }

  /** One more entry in the task's per-attempt error list (no stack: the list stays small). */
  private addError(r: Row, e: TaskError, worker: string | null, at: number): void {
    const list: TaskError[] = r.errors ? JSON.parse(r.errors) : [];
    list.push({ message: e.message, ...(e.code ? { code: e.code } : {}), attempt: r.attempts, at, worker });
    this.db.query("UPDATE tasks SET errors=? WHERE id=?").run(JSON.stringify(list), r.id);
  }

  private row(id: string): Row | null {
    return this.db.query("SELECT * FROM tasks WHERE id = ?").get(id) as Row | null;
  }

  private insert<P>(input: EnqueueInput<P>, now: number): Task<P> {
    if (!input.stage) throw inputError("a task needs a stage");
    const payload = payloadJson(input.payload);
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
    return this.write(() => this.insert(input, Date.now()));
  }

  async enqueueMany<P>(inputs: EnqueueInput<P>[]): Promise<Task<P>[]> {
    return this.write(() => {
      const now = Date.now();
      return inputs.map((i) => this.insert(i, now));
    });
  }

  private reapLocked(now: number): number {
    const expired = this.db
      .query("SELECT * FROM tasks WHERE status IN ('requested','started') AND lease_until < ?")
      .all(now) as Row[];
    for (const r of expired) {
      const err: TaskError = { message: `lease expired: worker ${r.worker ?? "?"} stopped answering`, code: "lease_expired", attempt: r.attempts };
      this.event(r.id, r.stage, "lease_expired", r.status, r.worker, { worker: r.worker });
      this.addError(r, err, r.worker, now);
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
    return this.write(() => this.reapLocked(now));
  }

  async claim(opts: ClaimOptions): Promise<Task | null> {
    if (!opts.stages.length) return null;
    return this.write(() => this.claimLocked(opts));
  }

  private claimLocked(opts: ClaimOptions): Task | null {
    if (!opts.stages.length) return null;
    const now = Date.now();
    // Reaping inside the claim keeps a dead worker's task from waiting for a separate sweeper.
    if (++this.ops % 20 === 1) this.reapLocked(now);
    // Delayed tasks whose time has come join the due ones: a range of tasks_waiting, nothing else.
    this.db.query("UPDATE tasks INDEXED BY tasks_waiting SET delayed=0 WHERE status='queued' AND delayed=1 AND run_at <= ?").run(now);
    // One index seek per stage in tasks_ready (due tasks only), the best of them wins.
    type Head = { id: string; stage: string; attempts: number; priority: number; created_at: number; rowid: number };
    let r: Head | null = null;
    for (const stage of opts.stages) {
      const c = this.db
        .query(
          `SELECT id, stage, attempts, priority, created_at, rowid FROM tasks INDEXED BY tasks_ready WHERE status='queued' AND delayed=0 AND stage=?
           ORDER BY priority DESC, created_at ASC, rowid ASC LIMIT 1`,
        )
        .get(stage) as Head | null;
      if (c && (!r || c.priority > r.priority || (c.priority === r.priority && (c.created_at < r.created_at || (c.created_at === r.created_at && c.rowid < r.rowid))))) r = c;
    }
    if (!r) return null;
    this.db
      .query(
        "UPDATE tasks SET status=?, requested_at=?, started_at=?, worker=?, lease_until=?, attempts=attempts+1, fence=fence+1, progress=NULL, progress_note=NULL WHERE id=?",
      )
      .run(opts.start ? "started" : "requested", now, opts.start ? now : null, opts.worker, now + opts.leaseMs, r.id);
    moved(this.db, r.stage, "queued", opts.start ? "started" : "requested", now);
    this.event(r.id, r.stage, "requested", "requested", opts.worker, { attempt: r.attempts + 1 });
    if (opts.start) this.event(r.id, r.stage, "started", "started", opts.worker);
    return toTask(this.row(r.id)!);
  }

  async start(id: string, worker: string, token?: number): Promise<void> {
    await this.write(() => {
      const now = Date.now();
      const res = this.db
        .query("UPDATE tasks SET status='started', started_at=? WHERE id=? AND worker=? AND status='requested' AND (? IS NULL OR fence=?)")
        .run(now, id, worker, token ?? null, token ?? null);
      if (res.changes) {
        const r = this.row(id)!;
        moved(this.db, r.stage, "requested", "started", now);
        this.event(id, r.stage, "started", "started", worker);
      }
    });
  }

  async heartbeat(id: string, worker: string, leaseMs: number, token?: number): Promise<LeaseStatus> {
    return this.write(() => {
      const r = this.db.query("SELECT status, worker, cancel_requested, fence FROM tasks WHERE id=?").get(id) as
        | { status: TaskStatus; worker: string | null; cancel_requested: number; fence: number }
        | null;
      if (!r || !holds(r, worker, token)) return { held: false, cancelRequested: false };
      if (r.status === "cancelled") return { held: false, cancelRequested: true };
      if (r.status !== "requested" && r.status !== "started") return { held: false, cancelRequested: false };
      this.db.query("UPDATE tasks SET lease_until=? WHERE id=?").run(Date.now() + leaseMs, id);
      return { held: true, cancelRequested: r.cancel_requested === 1 };
    });
  }

  async progress(id: string, worker: string, fraction: number, note?: string, token?: number): Promise<void> {
    await this.write(() => {
      const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
      const res = this.db
        .query("UPDATE tasks SET progress=?, progress_note=? WHERE id=? AND worker=? AND status IN ('requested','started') AND (? IS NULL OR fence=?)")
        .run(f, note ?? null, id, worker, token ?? null, token ?? null);
      if (res.changes) {
        const r = this.row(id)!;
        this.event(id, r.stage, "progress", r.status, worker, { fraction: f, note: note ?? null });
      }
    });
  }

  async complete(id: string, worker: string, result?: unknown, token?: number): Promise<boolean> {
    return this.write(() => this.completeLocked(id, worker, result, token));
  }

  async completeAndClaim(id: string, worker: string, result: unknown, next: ClaimOptions, token?: number): Promise<{ completed: boolean; next: Task | null }> {
    // Group commit: the calls of one event-loop turn (several children finishing together) share one transaction,
    // each still complete-then-claim in call order; a commit costs more than the work inside it.
    return new Promise((resolve, reject) => {
      this.batch.push({ run: () => ({ completed: this.completeLocked(id, worker, result, token), next: this.claimLocked(next) }), resolve, reject });
      if (this.batch.length === 1) setImmediate(() => void this.flushBatch());
    });
  }

  private batch: { run: () => { completed: boolean; next: Task | null }; resolve: (r: { completed: boolean; next: Task | null }) => void; reject: (e: unknown) => void }[] = [];

  private async flushBatch(): Promise<void> {
    const items = this.batch;
    this.batch = [];
    let out: { completed: boolean; next: Task | null }[];
    try {
      out = await this.write(() => items.map((i) => i.run()));
    } catch (e) {
      for (const i of items) i.reject(e);
      return;
    }
    items.forEach((i, n) => i.resolve(out[n]!));
  }

  private completeLocked(id: string, worker: string, result?: unknown, token?: number): boolean {
    const now = Date.now();
    // Only what the checks need: never the payload and result of a task that is being replaced anyway.
    const r = this.db.query("SELECT stage, status, worker, fence FROM tasks WHERE id = ?").get(id) as Pick<Row, "stage" | "status" | "worker" | "fence"> | null;
    if (!r || !holds(r, worker, token)) return false;
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
    return this.write(() => {
      const now = Date.now();
      const r = this.row(id);
      if (!r || !holds(r, worker, opts.token)) return null;
      const err = JSON.stringify({ ...error, attempt: r.attempts });
      if (r.status === "cancelled" || r.status === "requested" || r.status === "started") this.addError(r, error, worker, now);
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
    });
  }

  async release(id: string, worker: string, token?: number): Promise<boolean> {
    return this.write(() => {
      const now = Date.now();
      const r = this.row(id);
      if (!r || !holds(r, worker, token) || (r.status !== "requested" && r.status !== "started")) return false;
      // The attempt was not the task's fault: give it back.
      this.db
        .query("UPDATE tasks SET status='queued', delayed=1, queued_at=?, run_at=?, attempts=MAX(attempts-1,0), worker=NULL, lease_until=NULL, progress=NULL, progress_note=NULL WHERE id=?")
        .run(now, now, id);
      moved(this.db, r.stage, r.status, "queued", now);
      this.event(id, r.stage, "queued", "queued", null, { reason: "released", worker });
      return true;
    });
  }

  async cancel(id: string): Promise<Task> {
    return this.write(() => {
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
    });
  }

  async retry(id: string): Promise<Task> {
    return this.write(() => {
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
    });
  }

  async get(id: string): Promise<Task | null> {
    const r = this.row(id);
    return r ? toTask(r) : null;
  }

  async list(filter: TaskFilter = {}): Promise<Task[]> {
    return (await this.page({ ...filter, limit: filter.limit ?? 1000 })).tasks;
  }

  async page(filter: PageQuery): Promise<TaskPage> {
    if (filter.text?.trim()) {
      const get = this.db.query("SELECT * FROM tasks WHERE id = ?");
      return searchPage(sqliteSearchSource(this.db, (id) => {
        const r = get.get(id) as Row | null;
        return r ? toTask(r) : null;
      }), { ...filter, text: filter.text });
    }
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

  async countEnded(since: number, until?: number): Promise<Record<string, { finished: number; failed: number }>> {
    return countEndedBetween(this.db, since, until ?? Infinity);
  }

  async prune(opts: PruneOptions): Promise<number> {
    return this.write(() => pruneBatch(this.db, opts));
  }

  async compact(): Promise<void> {
    try {
      compactStep(this.db);
    } catch {
      // Busy with another process's write: space is given back at the next pass.
    }
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

  async history(id: string): Promise<TaskEvent[]> {
    return this.eventRows(this.db.query("SELECT * FROM events WHERE task_id = ? ORDER BY seq ASC").all(id));
  }

  async events(since: number, limit = 1000): Promise<TaskEvent[]> {
    return this.eventRows(this.db.query("SELECT * FROM events WHERE seq > ? ORDER BY seq ASC LIMIT ?").all(since, limit));
  }

  private eventRows(all: unknown[]): TaskEvent[] {
    const rows = all as {
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

  /**
   * Cancels of running tasks, seen within `intervalMs` (default 250 ms) from any process on this file: a short
   * poll of the event log's tail (a primary-key range), so a cancel does not wait for the holder's next heartbeat.
   */
  watchCancels(listener: (taskId: string) => void, intervalMs = 250): () => void {
    let since = (this.db.query("SELECT COALESCE(MAX(seq),0) AS s FROM events").get() as { s: number }).s;
    const top = this.db.query("SELECT COALESCE(MAX(seq),0) AS s FROM events");
    const cancels = this.db.query("SELECT task_id FROM events WHERE seq > ? AND seq <= ? AND type='cancel_requested' ORDER BY seq");
    const timer = setInterval(() => {
      if (this.closed) return clearInterval(timer);
      try {
        const upTo = (top.get() as { s: number }).s;
        if (upTo === since) return;
        const ids = cancels.all(since, upTo) as { task_id: string }[];
        since = upTo;
        for (const r of ids) listener(r.task_id);
      } catch {
        // A failing file is reported by the claims and the health probe; the heartbeat still carries cancels.
      }
    }, intervalMs);
    return () => clearInterval(timer);
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

  docs(): DocStore {
    return new SqliteDocs(this.db);
  }

  async acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.write(() => {
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
    });
  }

  async renewLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const res = await this.write(() => this.db.query("UPDATE locks SET expires_at=? WHERE key=? AND owner=? AND expires_at >= ?").run(Date.now() + ttlMs, key, owner, Date.now()));
    return res.changes > 0;
  }

  async releaseLock(key: string, owner: string): Promise<boolean> {
    return (await this.write(() => this.db.query("DELETE FROM locks WHERE key=? AND owner=?").run(key, owner))).changes > 0;
  }

  async putWorker(rec: WorkerRecord, ttlMs: number): Promise<void> {
    await this.write(() => this.db.query("INSERT OR REPLACE INTO workers (name, rec, expires_at) VALUES (?, ?, ?)").run(rec.name, JSON.stringify(rec), Date.now() + ttlMs));
  }

  async removeWorker(name: string): Promise<void> {
    await this.write(() => this.db.query("DELETE FROM workers WHERE name=?").run(name));
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    await this.write(() => this.db.query("DELETE FROM workers WHERE expires_at < ?").run(Date.now()));
    return (this.db.query("SELECT rec FROM workers ORDER BY name").all() as { rec: string }[]).map((r) => JSON.parse(r.rec));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close(false);
  }
}
