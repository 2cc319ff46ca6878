import { backoffDelay } from "./backoff.ts";
import { inputError } from "./errors.ts";

/** Crossfeed's task states, plus cancelled. The only states a task can have, on every backend. */
export const TASK_STATUSES = ["created", "queued", "requested", "started", "finished", "failed", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const ACTIVE_STATUSES: readonly TaskStatus[] = ["requested", "started"];
export const FINAL_STATUSES: readonly TaskStatus[] = ["finished", "failed", "cancelled"];

export const STAGE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * The largest payload a task may carry, as JSON bytes: the task travels to its worker as one line of at most
 * 16 MiB (src/runtime/ipc.ts), and the rest of the task needs room beside it. Refused at submit, not at run time.
 */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024 - 64 * 1024;

/** The payload as stored: JSON, within MAX_PAYLOAD_BYTES, or an input error that says its size and the limit. */
export function payloadJson(payload: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(payload ?? null);
  } catch (e) {
    throw inputError(`the payload cannot be stored as JSON: ${(e as Error).message}`);
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_PAYLOAD_BYTES)
    throw inputError(`the payload is ${bytes} bytes of JSON; a task's payload may be at most ${MAX_PAYLOAD_BYTES} bytes (pass a path to the data instead)`);
  return json;
}

export interface TaskError {
  message: string;
  code?: string;
  stack?: string;
  /** The attempt that produced the error (1-based). */
  attempt?: number;
  /** When it was recorded (epoch ms) and by which worker: set in Task.errors. */
  at?: number;
  worker?: string | null;
}

export interface Task<P = unknown, R = unknown> {
  id: string;
  stage: string;
  payload: P;
  status: TaskStatus;
  attempts: number;
  maxAttempts: number;
  priority: number;
  createdAt: number;
  queuedAt: number | null;
  requestedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** Earliest time the task may be claimed (delays and retry backoff). */
  runAt: number;
  /** Seconds the task may run before its worker is killed; null = the stage's default. */
  timeoutS: number | null;
  error: TaskError | null;
  result: R | null;
  parentId: string | null;
  /** The worker holding the lease while requested/started. */
  worker: string | null;
  leaseUntil: number | null;
  progress: number | null;
  progressNote: string | null;
  /** Set when cancel was asked while the task was running: the worker is told through its AbortSignal. */
  cancelRequested: boolean;
  /**
   * The attempt token: one more at every claim, never reused. The holder's calls carry it, so a run whose
   * task was handed out again (its lease expired, it was given back) can no longer change the task.
   */
  token: number;
  /** One error per failed attempt, oldest first (message, code, attempt, at, worker; no stack): the task's history. */
  errors: TaskError[];
}

export interface EnqueueInput<P = unknown> {
  stage: string;
  payload: P;
  priority?: number;
  /** Run no earlier than this epoch-ms time. */
  runAt?: number;
  /** Delay in ms from now (ignored when runAt is set). */
  delayMs?: number;
  maxAttempts?: number;
  timeoutS?: number;
  parentId?: string;
  /** Caller-chosen id (must be unique); default a random one. */
  id?: string;
}

export interface TaskFilter {
  stage?: string;
  status?: TaskStatus | TaskStatus[];
  parentId?: string;
  limit?: number;
  /** Newest first (default) or oldest first. */
  order?: "newest" | "oldest";
}

export type TaskEventType = TaskStatus | "progress" | "cancel_requested" | "retry_scheduled" | "lease_expired";

export interface TaskEvent {
  /** Monotonic per backend: readers resume with `since`. */
  seq: number;
  at: number;
  taskId: string;
  stage: string;
  type: TaskEventType;
  status: TaskStatus;
  worker?: string | null;
  data?: Record<string, unknown>;
}

export type StageStats = Record<TaskStatus, number>;

export function emptyStageStats(): StageStats {
  return { created: 0, queued: 0, requested: 0, started: 0, finished: 0, failed: 0, cancelled: 0 };
}

/** Retry backoff for attempt number `attempt` (1-based): base·2^(attempt-1), capped (the Lua scripts compute the same). */
export function retryDelayMs(attempt: number, baseMs = 1000, capMs = 5 * 60_000): number {
  return backoffDelay(attempt, { baseMs, maxMs: capMs });
}

export function newTaskId(): string {
  const t = Date.now().toString(36).padStart(9, "0");
  const r = crypto.getRandomValues(new Uint8Array(6));
  return `t${t}${Array.from(r, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
