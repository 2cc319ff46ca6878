import client from "prom-client";
import { TASK_STATUSES } from "../core/task.ts";
import { WORKER_STATES } from "../core/worker-state.ts";
import type { Slot } from "./slot.ts";
import type { QueueProbe } from "./queue-probe.ts";

/** How a run ended, as counted in falc_tasks_total and falc_task_run_seconds. */
export type RunOutcome = "finished" | "failed" | "retried" | "cancelled" | "refused" | "timeout" | "lease_lost" | "worker_died" | "released";

/** What the handler reports as it works; RuntimeMetrics turns it into Prometheus series. */
export interface RuntimeObserver {
  claimed(stage: string, waitS: number): void;
  ended(stage: string, outcome: RunOutcome, runS: number): void;
  restarted(stage: string): void;
}

const TIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/**
 * /metrics for one handler: counters and histograms from what the handler saw, gauges from its slots and from the
 * queue probe's last answer (never a queue call: /metrics answers while the queue is down, with falc_queue_up 0).
 */
export class RuntimeMetrics implements RuntimeObserver {
  readonly registry = new client.Registry();
  private tasks = new client.Counter({
    name: "falc_tasks_total",
    help: "Runs ended by this handler, by stage and outcome (finished, failed, retried, cancelled, refused, timeout, lease_lost, worker_died, released)",
    labelNames: ["stage", "outcome"] as const,
    registers: [this.registry],
  });
  private wait = new client.Histogram({
    name: "falc_task_queue_wait_seconds",
    help: "Time from when a task could run (queued or due) to when this handler claimed it",
    labelNames: ["stage"] as const,
    buckets: TIME_BUCKETS,
    registers: [this.registry],
  });
  private run = new client.Histogram({
    name: "falc_task_run_seconds",
    help: "Run time of a task in a child, by stage and outcome",
    labelNames: ["stage", "outcome"] as const,
    buckets: TIME_BUCKETS,
    registers: [this.registry],
  });
  private restarts = new client.Counter({
    name: "falc_worker_restarts_total",
    help: "Worker child restarts, by stage",
    labelNames: ["stage"] as const,
    registers: [this.registry],
  });

  constructor(slots: () => Slot[], probe: QueueProbe) {
    const stages = () => [...new Set(slots().map((s) => s.stage))];
    new client.Gauge({
      name: "falc_workers",
      help: "Worker child processes by stage and state",
      labelNames: ["stage", "state"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const stage of stages()) for (const st of WORKER_STATES) this.set({ stage, state: st }, 0);
        for (const s of slots()) this.inc({ stage: s.stage, state: s.state });
      },
    });
    new client.Gauge({
      name: "falc_queue_up",
      help: "1 when the queue answered within 800 ms at the last probe (once a second), else 0",
      registers: [this.registry],
      collect() {
        this.set(probe.up ? 1 : 0);
      },
    });
    new client.Gauge({
      name: "falc_queue_tasks",
      help: "Tasks in the queue by stage and status, at the last probe that answered",
      labelNames: ["stage", "status"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [stage, by] of Object.entries(probe.stats ?? {})) for (const st of TASK_STATUSES) this.set({ stage, status: st }, by[st]);
      },
    });
    // Every stage shows a zero before its first event, so rate() works from the start.
    for (const stage of stages()) {
      this.restarts.inc({ stage }, 0);
      for (const outcome of ["finished", "failed", "retried"] as const) this.tasks.inc({ stage, outcome }, 0);
    }
  }

  claimed(stage: string, waitS: number): void {
    this.wait.observe({ stage }, Math.max(0, waitS));
  }

  ended(stage: string, outcome: RunOutcome, runS: number): void {
    this.tasks.inc({ stage, outcome });
    this.run.observe({ stage, outcome }, Math.max(0, runS));
  }

  restarted(stage: string): void {
    this.restarts.inc({ stage });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
