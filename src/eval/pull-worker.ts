import { hostname } from "node:os";
import { backoffDelay } from "../core/backoff.ts";
import { healthResponse, startHttpServer, type HttpServer } from "../core/http-server.ts";
import type { Logger } from "../core/logger.ts";
import { errorLine } from "../core/errors.ts";
import { abortableSleep } from "../core/stage.ts";
import { EvalServiceClient } from "./client.ts";
import type { EvalSettings } from "./config.ts";
import { closeSharedPool, evalPayload, sharedPool } from "./stage.ts";
import { ENGINES } from "./engines/index.ts";
import type { EngineName } from "./types.ts";

export interface PullWorkerOptions {
  queueUrl: string;
  apiKey?: string;
  settings: EvalSettings;
  log: Logger;
  id?: string;
  /** Backoff after an error: step, 2·step, 4·step … up to max (default 5 s, 30 s max). */
  backoffStepMs?: number;
  backoffMaxMs?: number;
  /** Poll interval when the queue is empty (default 1 s). */
  idleMs?: number;
  concurrency?: number;
}

export interface PullWorkerState {
  worker: string;
  queue_url: string;
  engines: EngineName[];
  engines_unavailable: Record<string, string>;
  state: "starting" | "idle" | "working" | "backoff" | "stopped";
  processed: number;
  failed: number;
  errors: number;
  backoff_ms: number;
  last_error: string | null;
  started_at: number;
}

/** Backoff for the n-th consecutive error (1-based): falc's one backoff, doubling from step, capped. */
export function backoffMs(n: number, stepMs = 5000, maxMs = 30_000): number {
  return backoffDelay(Math.max(1, n), { baseMs: stepMs, maxMs });
}

/**
 * Polls the eval queue service, runs each task in a local sandbox, reports complete (any result the
 * sandbox produced) or fail (the engine itself could not run). On service errors it backs off
 * 5 s, 10 s, 20 s, 30 s … and recovers when the service answers again.
 */
export class PullWorker {
  readonly state: PullWorkerState;
  private client: EvalServiceClient;
  private stop = new AbortController();
  private log: Logger;

  constructor(private opts: PullWorkerOptions) {
    const id = opts.id ?? `eval-${hostname()}-${process.pid}`;
    this.client = new EvalServiceClient(opts.queueUrl, opts.apiKey);
    this.log = opts.log.child({ worker: id });
    this.state = { worker: id, queue_url: opts.queueUrl, engines: [], engines_unavailable: {}, state: "starting", processed: 0, failed: 0, errors: 0, backoff_ms: 0, last_error: null, started_at: Date.now() };
  }

  async detectEngines(): Promise<void> {
    for (const name of this.opts.settings.order) {
      try {
        await ENGINES[name].check();
        this.state.engines.push(name);
      } catch (e) {
        this.state.engines_unavailable[name] = errorLine(e);
        this.log.info({ event: "engine_unavailable", engine: name, reason: errorLine(e) }, `engine ${name} unavailable`);
      }
    }
  }

  shutdown(): void {
    this.stop.abort(new Error("stopping"));
  }

  async run(): Promise<void> {
    await this.detectEngines();
    this.log.info({ event: "worker_started", queue_url: this.opts.queueUrl, engines: this.state.engines }, "eval pull worker started");
    const n = Math.max(1, this.opts.concurrency ?? 1);
    await Promise.all(Array.from({ length: n }, (_, i) => this.loop(n === 1 ? this.state.worker : `${this.state.worker}-${i}`)));
    await closeSharedPool();
    this.state.state = "stopped";
    this.log.info({ event: "worker_stopped", processed: this.state.processed }, "eval pull worker stopped");
  }

  private async loop(worker: string): Promise<void> {
    const signal = this.stop.signal;
    let consecutive = 0;
    const step = this.opts.backoffStepMs ?? 5000;
    const max = this.opts.backoffMaxMs ?? 30_000;
    while (!signal.aborted) {
      try {
        const task = await this.client.next(worker);
        consecutive = 0;
        this.state.backoff_ms = 0;
        if (!task) {
          this.state.state = "idle";
          await abortableSleep(this.opts.idleMs ?? 1000, signal).catch(() => {});
          continue;
        }
        this.state.state = "working";
        // From the unbound logger: `worker` is this loop's name (…-0, …-1), once per line.
        const log = this.opts.log.child({ worker, eval_id: task.eval_id });
        log.info({ event: "eval_started", language: task.language, engine: task.engine ?? this.opts.settings.engine }, "eval started");
        const result = await evalPayload(
          { code: task.code, language: task.language, engine: task.engine ?? undefined, timeout: task.timeout ?? undefined, memory: task.memory ?? undefined, limits: task.limits ?? undefined, stdin: task.stdin ?? undefined, stdin_b64: task.stdin_b64 ?? undefined },
          this.opts.settings,
          { log, pool: sharedPool(this.opts.settings, this.opts.log) },
        ).catch((e) => ({ error: errorLine(e) }));
        if ("error" in result) {
          this.state.failed++;
          log.warn({ event: "eval_failed", error: result.error }, "eval could not run");
          await this.report(() => this.client.fail(task.id, worker, result.error, false), log, signal);
        } else if (result.status === "error") {
          this.state.failed++;
          log.warn({ event: "eval_failed", engine: result.engine, error: result.reason }, "sandbox error");
          await this.report(() => this.client.fail(task.id, worker, result.reason ?? "sandbox error"), log, signal);
        } else {
          this.state.processed++;
          log.info({ event: "eval_completed", engine: result.engine, status: result.status, duration_ms: result.duration_ms }, "eval done");
          await this.report(() => this.client.complete(task.id, worker, result), log, signal);
        }
      } catch (e) {
        consecutive++;
        this.state.errors++;
        const wait = backoffMs(consecutive, step, max);
        this.state.state = "backoff";
        this.state.backoff_ms = wait;
        this.state.last_error = errorLine(e);
        this.opts.log.warn({ event: "queue_error", worker, error: errorLine(e), backoff_ms: wait, attempt: consecutive }, "queue service error, backing off");
        await abortableSleep(wait, signal).catch(() => {});
      }
    }
  }

  /** Report a result, retrying through service outages so no finished work is lost (the lease may lapse meanwhile). */
  private async report(fn: () => Promise<unknown>, log: Logger, signal: AbortSignal): Promise<void> {
    const step = this.opts.backoffStepMs ?? 5000;
    for (let n = 1; ; n++) {
      try {
        await fn();
        return;
      } catch (e) {
        const status = (e as { details?: { status?: number } }).details?.status;
        if (status && status >= 400 && status < 500) {
          log.warn({ event: "report_rejected", error: errorLine(e) }, "service rejected the report");
          return;
        }
        if (signal.aborted || n >= 10) {
          log.error({ event: "report_lost", error: errorLine(e) }, "could not report the result");
          return;
        }
        const wait = backoffMs(n, step, this.opts.backoffMaxMs ?? 30_000);
        log.warn({ event: "report_retry", error: errorLine(e), backoff_ms: wait }, "report failed, retrying");
        await abortableSleep(wait, signal).catch(() => {});
      }
    }
  }

  /** `/health` for the pull worker (default port 8082), through falc's one probe server: 503 with the reason while the queue service is unreachable. */
  serveHealth(port: number, hostname = "127.0.0.1"): HttpServer {
    return startHttpServer({
      port,
      host: hostname,
      routes: {
        "/health": () => {
          const down = this.state.state === "backoff";
          const reasons = down ? [`the queue service at ${this.state.queue_url} does not answer (${this.state.last_error}); retrying in ${this.state.backoff_ms} ms`] : [];
          return healthResponse({ ...this.state, status: down ? "unhealthy" : "ok", reasons });
        },
      },
    });
  }
}
