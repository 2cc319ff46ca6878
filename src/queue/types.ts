import type { EnqueueInput, StageStats, Task, TaskEvent, TaskFilter, TaskError } from "../core/task.ts";
import type { WorkerRecord } from "../core/worker-state.ts";


export interface ClaimOptions {
  stages: string[];
  worker: string;
  leaseMs: number;
  /**
   * Record the task as started in the same step (requested and started events both), for a caller that hands
   * it to a run at once: one transaction or script per task instead of two.
   */
  start?: boolean;
}

/** What a heartbeat tells the lease holder. */
export interface LeaseStatus {
  /** False when the lease was lost (expired and taken back, or the task ended elsewhere). */
  held: boolean;
  cancelRequested: boolean;
}

export interface FailOptions {
  /** Retry with backoff while attempts < maxAttempts (default true). */
  retry?: boolean;
  /** Override the backoff delay. */
  delayMs?: number;
  /** The attempt token of the hand-over (Task.token at claim): a stale one is refused. */
  token?: number;
}

/**
 * The task queue. Both backends (SQLite, Redis) give exactly this behaviour; the conformance
 * suite in conformance.ts proves it. Every status change is recorded as an event.
 *
 * Fencing: every claim hands the task out with a new attempt token (Task.token, one more than the last).
 * start, heartbeat, progress, complete, completeAndClaim, fail and release take that token as their last
 * argument (fail: FailOptions.token) and the backend refuses the call inside its transaction or script when
 * the task has since been handed out again, even to the same worker id. Without a token only the worker id
 * is checked (callers that hold one task per worker id, such as the eval queue service).
 */
export interface Queue {
  readonly kind: "sqlite" | "redis";
  readonly url: string;

  enqueue<P>(input: EnqueueInput<P>): Promise<Task<P>>;
  enqueueMany<P>(inputs: EnqueueInput<P>[]): Promise<Task<P>[]>;

  /** Take the best claimable task (priority desc, then oldest) of the given stages: queued → requested. */
  claim(opts: ClaimOptions): Promise<Task | null>;
  /** requested → started, by the lease holder. */
  start(id: string, worker: string, token?: number): Promise<void>;
  /** Extend the lease; learn whether the task was cancelled meanwhile. */
  heartbeat(id: string, worker: string, leaseMs: number, token?: number): Promise<LeaseStatus>;
  progress(id: string, worker: string, fraction: number, note?: string, token?: number): Promise<void>;
  /** started|requested → finished. Returns false when the worker no longer holds the task. */
  complete(id: string, worker: string, result?: unknown, token?: number): Promise<boolean>;
  /**
   * complete(id, worker, result), then claim(next), as one step: a busy worker's one round trip per task
   * (BullMQ's workers fetch their next job the same way). `completed` is what complete would return.
   */
  completeAndClaim(id: string, worker: string, result: unknown, next: ClaimOptions, token?: number): Promise<{ completed: boolean; next: Task | null }>;
  /** → queued (retry, with backoff) or → failed for good. Returns the task after the change, or null if not held. */
  fail(id: string, worker: string, error: TaskError, opts?: FailOptions): Promise<Task | null>;
  /** Give a held task back without counting it as failed (graceful shutdown). */
  release(id: string, worker: string, token?: number): Promise<boolean>;

  /** queued/created → cancelled at once; requested/started → cancelled, and the holder is told at its next heartbeat. */
  cancel(id: string): Promise<Task>;
  /** failed|cancelled → queued with attempts reset. */
  retry(id: string): Promise<Task>;

  get(id: string): Promise<Task | null>;
  list(filter?: TaskFilter): Promise<Task[]>;
  stats(): Promise<Record<string, StageStats>>;
  /**
   * One page of tasks, newest first (or oldest), from an index: the cost is the page's, not the history's.
   * `after` is the previous page's `next`; `text` matches the start of a task id, or a part of a running
   * task's worker name, searches every kept task through the id index and lists by id (search-page.ts; a page
   * may then come back short while `next` is not null).
   */
  page(filter: TaskFilter & { after?: string | null; text?: string }): Promise<TaskPage>;

  /**
   * How many tasks of each stage ended at or after `since` and before `until` (epoch ms; no end when left
   * out): finished, and failed (failed or cancelled), from the finished-time indexes (BullMQ's completed and
   * failed sets on Redis), never a list. Half-open, so a caller can add live events from `until` on exactly.
   */
  countEnded(since: number, until?: number): Promise<Record<string, { finished: number; failed: number }>>;
  /** Delete at most `limit` ended tasks of one stage and bucket (older than, or beyond a count). Returns how many. */
  prune(opts: PruneOptions): Promise<number>;
  /** Give space freed by prune back (SQLite: incremental vacuum and a WAL checkpoint; Redis: nothing to do). */
  compact(): Promise<void>;
  /** Every event of one task still in the log, oldest first (for `falc tasks show` and the TUI's detail). */
  history(id: string): Promise<TaskEvent[]>;
  /** Events with seq > since, oldest first. */
  events(since: number, limit?: number): Promise<TaskEvent[]>;
  /** Live events (polled or pushed by the backend); returns an unsubscribe function. */
  subscribe(listener: (e: TaskEvent) => void, opts?: { since?: number; intervalMs?: number }): () => void;

  /**
   * Optional push of cancels: called with the id of a running task the moment it is cancelled, from any
   * machine (Redis pub/sub). Backends without it rely on the heartbeat answer alone.
   */
  watchCancels?(listener: (taskId: string) => void): () => void;

  /** Put back tasks whose lease expired (their worker died). Returns how many. Claim also does this. */
  reapExpired(): Promise<number>;

  /** Named locks with a TTL (scan targets, scheduler leader). */
  acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean>;
  renewLock(key: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLock(key: string, owner: string): Promise<boolean>;

  /**
   * Small shared documents that every node on this queue reads and writes (scan schedules): JSON values
   * under (kind, id). Kept beside the tasks in the same backend, so a cluster needs nothing else.
   */
  docs(): DocStore;

  /** Worker registry: records expire when not refreshed within ttlMs. */
  putWorker(rec: WorkerRecord, ttlMs: number): Promise<void>;
  removeWorker(name: string): Promise<void>;
  listWorkers(): Promise<WorkerRecord[]>;

  /** Wait until the backend answers (Redis; see OpenQueueOptions.deferConnect). Absent where opening is enough. */
  connect?(): Promise<void>;

  close(): Promise<void>;
}

export type QueueFactory = () => Promise<Queue>;

/** One small batch of deletions of ended tasks (see retention-rules.ts). */
export interface PruneOptions {
  stage: string;
  /** finished, or failed (failed + cancelled). */
  bucket: "finished" | "failed";
  /** Delete tasks that ended before this epoch-ms time. */
  endedBefore?: number;
  /** Delete the oldest beyond this many in the bucket. */
  keepNewest?: number;
  /** At most this many deletions in this call (a short lock). */
  limit: number;
}

export interface TaskPage {
  tasks: import("../core/task.ts").Task[];
  /** Pass as `after` for the next page; null at the end. */
  next: string | null;
}

export interface DocStore {
  get<T>(kind: string, id: string): Promise<T | null>;
  /** Every document of a kind, ordered by id. */
  list<T>(kind: string): Promise<{ id: string; value: T }[]>;
  /** Write; with ifAbsent only when no document has that id (returns whether it wrote). */
  put(kind: string, id: string, value: unknown, opts?: { ifAbsent?: boolean }): Promise<boolean>;
  delete(kind: string, id: string): Promise<boolean>;
  /** Remove every document of a kind. */
  clear(kind: string): Promise<void>;
}
