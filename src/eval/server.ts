import { createHash, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { DEFAULT_LIMITS } from "./limits.ts";
import { healthResponse, startHttpServer, type Route } from "../core/http-server.ts";
import type { Logger } from "../core/logger.ts";
import { silentLogger } from "../core/logger.ts";
import type { Queue } from "../queue/types.ts";
import type { Task } from "../core/task.ts";
import { evalPayloadObject, oneStdin, payloadStdinBytes, type EvalPayload } from "./payload.ts";
import { DEFAULT_MAX_LIMITS, overCeilings, violationText, type MaxLimits } from "./ceilings.ts";
import { DEFAULT_LANGUAGES, resolveLanguage, type Language } from "./languages.ts";

export const EVAL_STAGE = "eval";

const submitSchema = evalPayloadObject.extend({ priority: z.number().int().min(-1000).max(1000).optional(), max_attempts: z.number().int().min(1).max(10).optional() }).refine(...oneStdin);
const completeSchema = z.object({ worker: z.string().min(1).max(128), result: z.unknown() });
const failSchema = z.object({ worker: z.string().min(1).max(128), error: z.union([z.string(), z.object({ message: z.string() }).passthrough()]), retry: z.boolean().optional() });

export interface ServeOptions {
  queue: Queue;
  port: number;
  hostname?: string;
  apiKey?: string;
  log?: Logger;
  /** Lease on a handed-out task: its wall timeout plus this grace (s), then it goes back to the queue. */
  leaseGraceS?: number;
  /** How often expired leases are reclaimed (default 5 s): pollers that vanish and killed workers. */
  reapIntervalMs?: number;
  /** The operator's ceilings: a task asking for more is refused with 400 (default: DEFAULT_MAX_LIMITS). */
  maxLimits?: MaxLimits;
  /** Languages a task may name (default: the built-in table). */
  languages?: Record<string, Language>;
}

export interface EvalService {
  port: number;
  stop(closeActive?: boolean): void;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

async function body<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  let raw: unknown;
  try {
    raw = await req.json();
  } catch {
    throw new HttpError(400, "the body must be JSON");
  }
  const p = schema.safeParse(raw);
  if (!p.success) {
    const i = p.error.issues[0]!;
    throw new HttpError(400, `${i.path.join(".") || "body"}: ${i.message}`);
  }
  return p.data;
}

/** Whether a bind address is loopback only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1";
}

/** Compare keys in constant time (digests of equal length, so not even the length leaks). */
export function sameKey(given: string | null, expected: string): boolean {
  if (given === null) return false;
  const h = (x: string) => createHash("sha256").update(x).digest();
  return timingSafeEqual(h(given), h(expected));
}

/** The wall timeout (s) a payload asks for, or the default, for its lease. */
const wallS = (p: EvalPayload) => p.timeout ?? p.limits?.timeout ?? DEFAULT_LIMITS.wallMs / 1000;

/** A task as the HTTP API shows it. */
export function taskView(t: Task) {
  const p = t.payload as EvalPayload;
  return {
    id: t.id,
    eval_id: p.eval_id ?? t.id,
    status: t.status,
    language: p.language,
    engine: p.engine ?? null,
    priority: t.priority,
    attempts: t.attempts,
    worker: t.worker,
    result: t.result,
    // An earlier attempt's error (a lease that expired) is history once a later attempt finished.
    error: t.status === "failed" || t.status === "cancelled" ? t.error?.message ?? null : null,
    last_attempt_error: t.status === "queued" || t.status === "requested" || t.status === "started" ? t.error?.message ?? null : null,
    created_at: t.createdAt,
    started_at: t.startedAt,
    finished_at: t.finishedAt,
  };
}

/**
 * The eval queue-service API over falc's queue (stage `eval`):
 * POST /tasks, GET /tasks/next, POST /tasks/{id}/complete, POST /tasks/{id}/fail, GET /tasks/{id}, GET /status, GET /health.
 */
export function serveEval(opts: ServeOptions): EvalService {
  const { queue } = opts;
  const log = opts.log ?? silentLogger;
  const started = Date.now();
  const grace = opts.leaseGraceS ?? 60;
  const languages = opts.languages ?? DEFAULT_LANGUAGES;
  const maxLimits = opts.maxLimits ?? { ...DEFAULT_MAX_LIMITS };

  async function reap(): Promise<void> {
    try {
      const n = await queue.reapExpired();
      if (n) log.warn({ event: "leases_reclaimed", count: n }, `${n} eval task(s) whose worker stopped answering went back to the queue (or failed after their last attempt)`);
    } catch (e) {
      log.error({ event: "reap_failed", error: (e as Error).message }, "could not reclaim expired leases; will try again");
    }
  }

  async function heldTask(id: string) {
    const t = await queue.get(id);
    if (!t || t.stage !== EVAL_STAGE) throw new HttpError(404, `no eval task ${id}`);
    return t;
  }

  async function health(): Promise<Response> {
    // The same /health shape as every falc probe: 503 with reasons when the queue does not answer.
    const reasons: string[] = [];
    await queue.stats().catch((e) => reasons.push(`the queue (${queue.kind}) does not answer: ${(e as Error).message.split("\n")[0]}`));
    return healthResponse({ status: reasons.length ? "unhealthy" : "ok", reasons, queue: queue.kind, uptime_s: Math.round((Date.now() - started) / 1000) });
  }

  /** Every route but /health: the API key first (after 404/405, which the server helper answers). */
  const guarded = (handler: (req: Request, params: Record<string, string>) => Promise<Response>): Route => async (req, params) => {
    if (opts.apiKey) {
      const auth = req.headers.get("authorization");
      const key = req.headers.get("x-api-key") ?? (auth?.startsWith("Bearer ") ? auth.slice(7) : null);
      if (!sameKey(key, opts.apiKey)) throw new HttpError(401, "missing or wrong API key");
    }
    return handler(req, params);
  };

  async function status(): Promise<Response> {
    const stats = (await queue.stats())[EVAL_STAGE] ?? null;
    return json(200, { stage: EVAL_STAGE, tasks: stats, uptime_s: Math.round((Date.now() - started) / 1000) });
  }

  async function submit(req: Request): Promise<Response> {
    const b = await body(req, submitSchema);
    const { priority, max_attempts, ...payload } = b;
    const over = overCeilings(payload, maxLimits, payloadStdinBytes(payload));
    if (over.length) throw new HttpError(400, violationText(over[0]!));
    try {
      resolveLanguage(payload.language, languages);
    } catch (e) {
      throw new HttpError(400, `language: ${(e as Error).message}`);
    }
    if (payload.eval_id && (await queue.get(payload.eval_id))) throw new HttpError(409, `eval_id ${payload.eval_id} exists`);
    const t = await queue.enqueue({ stage: EVAL_STAGE, payload, priority, maxAttempts: max_attempts, id: payload.eval_id, timeoutS: Math.ceil(wallS(payload) + 30) });
    log.info({ event: "task_submitted", eval_id: payload.eval_id ?? t.id, task_id: t.id }, "eval submitted");
    return json(201, taskView(t));
  }

  async function next(req: Request): Promise<Response> {
    const worker = `http:${(new URL(req.url).searchParams.get("worker") ?? "anonymous").slice(0, 100)}`;
    const t = await queue.claim({ stages: [EVAL_STAGE], worker, leaseMs: 600_000 });
    if (!t) return json(200, null);
    // The pull worker sends no heartbeats: the lease is the task's wall timeout plus grace; then
    // the reaper puts it back in the queue (attempt counted) or fails it after its last attempt.
    const p = t.payload as EvalPayload;
    await queue.start(t.id, worker);
    await queue.heartbeat(t.id, worker, (wallS(p) + grace) * 1000);
    log.info({ event: "task_handed_out", eval_id: p.eval_id ?? t.id, worker }, "eval handed out");
    return json(200, { id: t.id, eval_id: p.eval_id ?? t.id, code: p.code, language: p.language, engine: p.engine ?? null, timeout: p.timeout ?? null, memory: p.memory ?? null, limits: p.limits ?? null, stdin: p.stdin ?? null, stdin_b64: p.stdin_b64 ?? null, attempt: t.attempts });
  }

  async function complete(req: Request, { id }: Record<string, string>): Promise<Response> {
    const b = await body(req, completeSchema);
    await heldTask(id!);
    const ok = await queue.complete(id!, `http:${b.worker}`, b.result);
    if (!ok) throw new HttpError(409, `task ${id} is not held by worker ${b.worker}`);
    log.info({ event: "task_completed", eval_id: id, worker: b.worker }, "eval completed");
    return json(200, { id, status: "finished" });
  }

  async function fail(req: Request, { id }: Record<string, string>): Promise<Response> {
    const b = await body(req, failSchema);
    await heldTask(id!);
    const message = typeof b.error === "string" ? b.error : b.error.message;
    const t = await queue.fail(id!, `http:${b.worker}`, { message }, { retry: b.retry ?? true });
    if (!t) throw new HttpError(409, `task ${id} is not held by worker ${b.worker}`);
    log.warn({ event: "task_failed", eval_id: id, worker: b.worker, error: message }, "eval failed");
    return json(200, { id, status: t.status });
  }

  // The largest body a client or worker may send: a submission's code and stdin, or a result's two
  // output streams, each as JSON-escaped text (up to 6 bytes a byte) and base64.
  const maxBodyBytes = Math.max(6 * (1024 * 1024 + maxLimits.stdin_kb * 1024), 2 * 8 * maxLimits.output_kb * 1024) + 1024 * 1024;
  const server = startHttpServer({
    port: opts.port,
    host: opts.hostname ?? "127.0.0.1",
    portFlag: "--port",
    deadlineMs: null,
    maxBodyBytes,
    routes: {
      "/health": { GET: health },
      "/status": { GET: guarded(status) },
      "/tasks": { POST: guarded(submit) },
      "/tasks/next": { GET: guarded(next) },
      "/tasks/:id": { GET: guarded(async (_req, { id }) => json(200, taskView(await heldTask(id!)))) },
      "/tasks/:id/complete": { POST: guarded(complete) },
      "/tasks/:id/fail": { POST: guarded(fail) },
    },
    errorResponse: (code, message, headers) => json(code, { error: message }, headers),
    onError: (e, req) => {
      if (e instanceof HttpError) return json(e.status, { error: e.message }, e.headers);
      log.error({ event: "http_error", path: new URL(req.url).pathname, error: (e as Error).message }, "request failed");
      return json(500, { error: (e as Error).message.split("\n")[0] });
    },
  });
  const reaper = setInterval(() => void reap(), opts.reapIntervalMs ?? 5000);
  return {
    port: server.port,
    stop(closeActive = true) {
      clearInterval(reaper);
      server.stop(closeActive);
    },
  };
}
