import type { Logger } from "../core/logger.ts";
import { healthResponse, metricsResponse, startHttpServer, type HttpServer } from "../core/http-server.ts";
import type { Queue } from "../queue/types.ts";
import type { WorkerHandler } from "./handler.ts";
import { RuntimeMetrics } from "./metrics.ts";
import { QueueProbe } from "./queue-probe.ts";

export interface HealthServer {
  port: number;
  stop(): void;
}

/**
 * GET /health (JSON: status, reasons, worker states, queue depth) and GET /metrics (Prometheus) for one handler.
 * Neither calls the queue: they read the handler's slots and the probe's last answer, so both answer at once
 * while the queue hangs, and /health is 503 with the reason (queue unreachable since …, queue corrupt: …,
 * setup failing for stage …). A taken port throws a usage error (exit 2) before any child starts.
 */
export function startHealthServer(handler: WorkerHandler, queue: Queue, port: number, log: Logger, host = "127.0.0.1"): HealthServer {
  const probe = new QueueProbe(queue);
  const metrics = new RuntimeMetrics(() => handler.slots, probe);
  handler.observer = metrics;
  handler.onQueueError = (msg) => (msg === null ? undefined : probe.failed(msg));

  const health = () => {
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
    const reasons: string[] = [];
    const q = probe.reason();
    if (q) reasons.push(q);
    for (const stage of new Set(handler.slots.filter((s) => s.state === "setup_failed").map((s) => s.stage))) {
      const err = handler.slots.find((s) => s.stage === stage && s.state === "setup_failed")?.error;
      reasons.push(`setup failing for stage ${stage}${err ? `: ${err}` : ""}`);
    }
    const stats = probe.up ? probe.stats : null;
    return healthResponse({
      status: reasons.length ? "unhealthy" : "ok",
      reasons,
      handler: handler.id,
      uptime_s: Math.round((Date.now() - handler.startedAt) / 1000),
      queue: {
        // Already masked by the backend (redis://:***@…).
        url: queue.url,
        reachable: probe.up,
        depth: stats ? Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, v.queued])) : null,
        stats,
      },
      workers,
      counters: handler.counters,
    });
  };

  const server: HttpServer = startHttpServer({
    port,
    host,
    routes: {
      "/health": health,
      "/metrics": async () => metricsResponse(await metrics.text(), metrics.contentType),
    },
  });
  probe.start();
  log.info({ event: "health_listening", port: server.port }, `health and metrics on ${server.url}/health`);
  return {
    port: server.port,
    stop: () => {
      probe.stop();
      server.stop();
    },
  };
}
