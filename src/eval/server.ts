import { z } from "zod";
import type { Logger } from "../core/logger.ts";
import { silentLogger } from "../core/logger.ts";
import type { Queue } from "../queue/types.ts";
import type { Task } from "../core/task.ts";
import { evalPayloadSchema, type EvalPayload } from "./payload.ts";
import { DEFAULT_MAX_LIMITS, overCeilings, violationText, type MaxLimits } from "./ceilings.ts";
import { DEFAULT_LANGUAGES, resolveLanguage, type Language } from "./languages.ts";

export const EVAL_STAGE = "eval";

const submitSchema = evalPayloadSchema.extend({ priority: z.number().int().min(-1000).max(1000).optional() });
const completeSchema = z.object({ worker: z.string().min(1).max(128), result: z.unknown() });
const failSchema = z.object({ worker: z.string().min(1).max(128), error: z.union([z.string(), z.object({ message: z.string() }).passthrough()]), retry: z.boolean().optional() });

export interface ServeOptions {
  queue: Queue;
  port: number;
  hostname?: string;
  apiKey?: string;
  log?: Logger;
  /** Extra lease on a handed-out task beyond its timeout, before it goes back to the queue. */
  leaseGraceS?: number;
  /** The operator's ceilings: a task asking for more is refused with 400 (default: DEFAULT_MAX_LIMITS). */
  maxLimits?: MaxLimits;
  /** Languages a task may name (default: the built-in table). */
  languages?: Record<string, Language>;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

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
    error: t.error?.message ?? null,
    created_at: t.createdAt,
    started_at: t.startedAt,
    finished_at: t.finishedAt,
  };
}

/**
 * The eval queue-service API over falc's queue (stage `eval`):
 * POST /tasks, GET /tasks/next, POST /tasks/{id}/complete, POST /tasks/{id}/fail, GET /tasks/{id}, GET /status, GET /health.
 */
export function serveEval(opts: ServeOptions) {
  const { queue } = opts;
  const log = opts.log ?? silentLogger;
  const started = Date.now();
  const grace = opts.leaseGraceS ?? 60;

  async function route(req: Request, url: URL): Promise<Response> {
    const parts = url.pathname.split("/").filter(Boolean);
    const m = req.method;
    if (m === "GET" && url.pathname === "/health") return json(200, { status: "ok", queue: queue.kind, uptime_s: Math.round((Date.now() - started) / 1000) });
    if (opts.apiKey) {
      const auth = req.headers.get("authorization");
      const key = req.headers.get("x-api-key") ?? (auth?.startsWith("Bearer ") ? auth.slice(7) : null);
      if (key !== opts.apiKey) throw new HttpError(401, "missing or wrong API key");
    }
    if (parts[0] === "status" && parts.length === 1 && m === "GET") {
      const stats = (await queue.stats())[EVAL_STAGE] ?? null;
      return json(200, { stage: EVAL_STAGE, tasks: stats, uptime_s: Math.round((Date.now() - started) / 1000) });
    }
    if (parts[0] !== "tasks") throw new HttpError(404, `no route ${m} ${url.pathname}`);
    if (parts.length === 1 && m === "POST") {
      const b = await body(req, submitSchema);
      const { priority, ...payload } = b;
      const over = overCeilings(payload, opts.maxLimits ?? { ...DEFAULT_MAX_LIMITS }, payload.stdin !== undefined ? Buffer.byteLength(payload.stdin) : 0);
      if (over.length) throw new HttpError(400, violationText(over[0]!));
      try {
        resolveLanguage(payload.language, opts.languages ?? DEFAULT_LANGUAGES);
      } catch (e) {
        throw new HttpError(400, `language: ${(e as Error).message}`);
      }
      if (payload.eval_id && (await queue.get(payload.eval_id))) throw new HttpError(409, `eval_id ${payload.eval_id} exists`);
      const t = await queue.enqueue({ stage: EVAL_STAGE, payload, priority, id: payload.eval_id, timeoutS: Math.ceil((payload.timeout ?? payload.limits?.timeout ?? 10) + 30) });
      log.info({ event: "task_submitted", eval_id: payload.eval_id ?? t.id, task_id: t.id }, "eval submitted");
      return json(201, taskView(t));
    }
    if (parts.length === 2 && parts[1] === "next" && m === "GET") {
      const worker = `http:${(url.searchParams.get("worker") ?? "anonymous").slice(0, 100)}`;
      const t = await queue.claim({ stages: [EVAL_STAGE], worker, leaseMs: 600_000 });
      if (!t) return json(200, null);
      // The pull worker sends no heartbeats: the lease is the task's timeout plus grace, then it goes back to the queue.
      await queue.start(t.id, worker);
      await queue.heartbeat(t.id, worker, ((t.timeoutS ?? 60) + grace) * 1000);
      const p = t.payload as EvalPayload;
      log.info({ event: "task_handed_out", eval_id: p.eval_id ?? t.id, worker }, "eval handed out");
      return json(200, { id: t.id, eval_id: p.eval_id ?? t.id, code: p.code, language: p.language, engine: p.engine ?? null, timeout: p.timeout ?? null, memory: p.memory ?? null, limits: p.limits ?? null, stdin: p.stdin ?? null, attempt: t.attempts });
    }
    if (parts.length === 2 && m === "GET") {
      const t = await queue.get(parts[1]!);
      if (!t || t.stage !== EVAL_STAGE) throw new HttpError(404, `no eval task ${parts[1]}`);
      return json(200, taskView(t));
    }
    if (parts.length === 3 && m === "POST" && (parts[2] === "complete" || parts[2] === "fail")) {
      const id = parts[1]!;
      if (parts[2] === "complete") {
        const b = await body(req, completeSchema);
        const ok = await queue.complete(id, `http:${b.worker}`, b.result);
        if (!ok) throw new HttpError(409, `task ${id} is not held by worker ${b.worker}`);
        log.info({ event: "task_completed", eval_id: id, worker: b.worker }, "eval completed");
        return json(200, { id, status: "finished" });
      }
      const b = await body(req, failSchema);
      const message = typeof b.error === "string" ? b.error : b.error.message;
      const t = await queue.fail(id, `http:${b.worker}`, { message }, { retry: b.retry ?? true });
      if (!t) throw new HttpError(409, `task ${id} is not held by worker ${b.worker}`);
      log.warn({ event: "task_failed", eval_id: id, worker: b.worker, error: message }, "eval failed");
      return json(200, { id, status: t.status });
    }
    throw new HttpError(404, `no route ${m} ${url.pathname}`);
  }

  return Bun.serve({
    port: opts.port,
    hostname: opts.hostname ?? "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      try {
        return await route(req, url);
      } catch (e) {
        if (e instanceof HttpError) return json(e.status, { error: e.message });
        log.error({ event: "http_error", path: url.pathname, error: (e as Error).message }, "request failed");
        return json(500, { error: (e as Error).message.split("\n")[0] });
      }
    },
  });
}
