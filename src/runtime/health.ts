import client from "prom-client";
import type { Logger } from "../core/logger.ts";
import { TASK_STATUSES } from "../core/task.ts";
import { WORKER_STATES } from "../core/worker-state.ts";
import type { Queue } from "../queue/types.ts";
import type { WorkerHandler } from "./handler.ts";

export interface HealthServer {
  port: number;
  stop(): void;
}

/**
 * GET /health (JSON: worker states, queue depth) and GET /metrics (Prometheus) for one handler.
 * Both read the handler's own slots and the queue, the same truth the TUI and `falc tasks` see.
 */
export function startHealthServer(handler: WorkerHandler, queue: Queue, port: number, log: Logger, host = "127.0.0.1"): HealthServer | null {
  const registry = new client.Registry();
  new client.Gauge({
    name: "falc_workers",
    help: "Worker child processes by stage and state",
    labelNames: ["stage", "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of handler.slots) this.inc({ stage: s.stage, state: s.state });
      for (const stage of new Set(handler.slots.map((s) => s.stage))) for (const st of WORKER_STATES) this.inc({ stage, state: st }, 0);
    },
  });
  new client.Gauge({
    name: "falc_queue_tasks",
    help: "Tasks in the queue by stage and status",
    labelNames: ["stage", "status"],
    registers: [registry],
    async collect() {
      this.reset();
      const stats = await queue.stats().catch(() => ({}) as Awaited<ReturnType<Queue["stats"]>>);
      for (const [stage, by] of Object.entries(stats)) for (const st of TASK_STATUSES) this.set({ stage, status: st }, by[st]);
    },
  });
  const counter = (name: string, help: string, key: keyof WorkerHandler["counters"]) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(handler.counters[key]);
      },
    });
  counter("falc_tasks_finished_total", "Tasks this handler finished", "finished");
  counter("falc_tasks_failed_total", "Tasks this handler failed for good", "failed");
  counter("falc_worker_restarts_total", "Worker child restarts", "restarts");
  counter("falc_task_timeouts_total", "Tasks killed at their timeout", "timeouts");

  const health = async () => {
    const stats = await queue.stats().catch(() => null);
    const workers = handler.slots.map((s) => ({
      name: s.name,
      id: s.id,
      stage: s.stage,
      state: s.state,
      pid: s.proc?.pid ?? null,
      task_id: s.task?.id ?? null,
      since: s.since,
      restarts: s.restarts,
      error: s.error,
    }));
    const depth = stats ? Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, v.queued])) : null;
    const bad = workers.some((w) => w.state === "setup_failed") || !stats;
    return {
      status: bad ? "degraded" : "ok",
      handler: handler.id,
      uptime_s: Math.round((Date.now() - handler.startedAt) / 1000),
      queue: { url: queue.url.replace(/\/\/[^@/]*@/, "//***@"), reachable: Boolean(stats), depth, stats },
      workers,
      counters: handler.counters,
    };
  };

  try {
    const server = Bun.serve({
      port,
      hostname: host,
      async fetch(req) {
        const url = new URL(req.url);
        if (req.method !== "GET") return new Response("method not allowed\n", { status: 405 });
        if (url.pathname === "/health") {
          const h = await health();
          return Response.json(h, { status: h.status === "ok" ? 200 : 503 });
        }
        if (url.pathname === "/metrics") return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
        return new Response("not found: try /health or /metrics\n", { status: 404 });
      },
    });
    log.info({ event: "health_listening", port: server.port }, `health and metrics on http://${host}:${server.port}/health`);
    return { port: server.port as number, stop: () => server.stop(true) };
  } catch (e) {
    log.warn({ event: "health_unavailable", port, err: (e as Error).message }, `health server not started on port ${port}: ${(e as Error).message}`);
    return null;
  }
}
