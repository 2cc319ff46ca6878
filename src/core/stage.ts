import { z } from "zod";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";
import type { Task } from "./task.ts";
import type { Queue } from "../queue/types.ts";
import { FalcError } from "./errors.ts";

/** What a stage's setup() gets: once per worker process (load plugins, compile rules). */
export interface SetupContext {
  config: Config;
  home: string;
  log: Logger;
  /** `<stage><n>` in a worker child, "local" when run once from the CLI. */
  worker: string;
}

/** What a stage's service() gets: the handler's queue, config and logger, and the stop signal. */
export interface ServiceContext {
  config: Config;
  queue: Queue;
  log: Logger;
  signal: AbortSignal;
}

/** What run() gets for one task. */
export interface StageContext extends SetupContext {
  task: Task;
  /** Aborted when the task is cancelled or the worker is stopping. */
  signal: AbortSignal;
  progress(fraction: number, note?: string): void;
  /** The queue, to enqueue follow-up tasks (identification → pre); absent when run without one. */
  queue?: Queue;
  /** A scratch directory for this task, removed after it ends. */
  workDir: string;
}

export interface StageHandler<P = unknown, R = unknown> {
  name: string;
  description: string;
  /** Payloads are checked at submit (tasks submit, HTTP) and again in the worker. */
  payloadSchema: z.ZodType<P>;
  /** Seconds before a task is killed when neither the task nor config says otherwise. */
  defaultTimeoutS?: number;
  setup?(ctx: SetupContext): Promise<void> | void;
  run(payload: P, ctx: StageContext): Promise<R>;
  /**
   * A long-running service `falc worker` starts once per handler that serves this stage, beside its children
   * (the scan scheduler, whose leader is elected through the queue's locks). Runs until `signal` aborts.
   */
  service?(ctx: ServiceContext): Promise<void>;
  teardown?(): Promise<void> | void;
}

/**
 * The host API handed to stage modules loaded from disk: the compiled binary's bundled
 * packages cannot be imported by name from a user's file, so they come through this object.
 */
export interface StageApi {
  z: typeof z;
  FalcError: typeof FalcError;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A stage module exports `default (api) => StageHandler` (or a StageHandler object). */
export type StageFactory = (api: StageApi) => StageHandler | Promise<StageHandler>;

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error("aborted"));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason ?? new Error("aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export const stageApi: StageApi = { z, FalcError, sleep: abortableSleep };
