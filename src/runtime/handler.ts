import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Config } from "../core/config.ts";
import { configError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { homePaths } from "../core/paths.ts";
import type { Task, TaskError } from "../core/task.ts";
import type { WorkerRecord, WorkerState } from "../core/worker-state.ts";
import type { Queue } from "../queue/types.ts";
import { childMessage, LineDecoder, sendLine, type ChildMessage } from "./ipc.ts";
import { selfCommand } from "./self.ts";
import { startRetention } from "./retention.ts";
import { flushTaskLines, taskLine } from "./task-lines.ts";
import { clearTaskTimers, killGroup, type Slot } from "./slot.ts";

export interface HandlerOptions {
  config: Config;
  queue: Queue;
  log: Logger;
  /** Stage → number of child processes. */
  counts: Record<string, number>;
  stagePaths: string[];
  leaseMs?: number;
  pollMs?: number;
  /** How long running tasks may finish after SIGINT/SIGTERM before they are requeued. */
  graceMs?: number;
  /** After a cancel, how long a child may take to stop before it is killed. */
  cancelGraceMs?: number;
  /** Arguments the children get so they read the same config and queue. */
  childArgs?: string[];
  /** Where children's stderr (their logs) goes; default the handler's own stderr. */
  childStderr?: number;
}

const REGISTRY_TTL_MS = 15_000;
const SOCKET_PATH_MAX = 100;

/**
 * The worker handler (Cuckoo3's), made robust: starts N children per stage, tracks
 * setup → idle → working, hands a claimed task only to an idle child, and kills, restarts
 * and requeues when a child dies, hangs past its timeout or is cancelled.
 */
export class WorkerHandler {
  readonly id: string;
  readonly host = hostname();
  readonly slots: Slot[] = [];
  readonly startedAt = Date.now();
  private stopping = false;
  private stopped = false;
  private timers: ReturnType<typeof setInterval>[] = [];
  private unwatchCancels?: () => void;
  readonly counters = { finished: 0, failed: 0, restarts: 0, timeouts: 0, claimed: 0 };
  private leaseMs: number;
  private pollMs: number;
  private graceMs: number;
  private cancelGraceMs: number;
  /** Called on every worker state change (TUI, metrics). */
  onChange?: (s: Slot) => void;

  constructor(private opts: HandlerOptions) {
    this.id = `handler@${this.host}:${process.pid}`;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 200;
    this.graceMs = opts.graceMs ?? 30_000;
    this.cancelGraceMs = opts.cancelGraceMs ?? 5_000;
    const sockDir = homePaths(opts.config.home).sockets;
    for (const [stage, n] of Object.entries(opts.counts)) {
      for (let i = 0; i < n; i++) {
        const name = `${stage}${i}`;
        const socketPath = join(sockDir, `${name}-${process.pid}.sock`);
        if (socketPath.length > SOCKET_PATH_MAX)
          throw configError(`socket path ${socketPath} is too long for a unix socket; use a shorter FALC_HOME`);
        this.slots.push({
          name,
          id: `${name}@${this.host}:${process.pid}`,
          stage,
          socketPath,
          proc: null,
          sock: null,
          state: "setup",
          since: Date.now(),
          spawnedAt: 0,
          restarts: 0,
          setupFailures: 0,
          crashStreak: 0,
          error: null,
          task: null,
          claiming: false,
          timers: {},
        });
      }
    }
  }

  private log(s: Slot | null) {
    return s ? this.opts.log.child({ worker: s.name, stage: s.stage }) : this.opts.log;
  }

  start(): void {
    mkdirSync(homePaths(this.opts.config.home).sockets, { recursive: true, mode: 0o700 });
    for (const s of this.slots) this.spawn(s);
    this.timers.push(setInterval(() => this.slots.forEach((s) => void this.dispatch(s)), this.pollMs));
    this.timers.push(setInterval(() => void this.publishAll(), 3_000));
    this.timers.push(setInterval(() => void this.opts.queue.reapExpired().catch(() => {}), 5_000));
    this.timers.push(startRetention(this.opts.queue, this.opts.config, this.opts.log));
    void this.publishAll();
    // A backend that pushes cancels (Redis pub/sub) reaches a running task at once instead of at its next heartbeat.
    this.unwatchCancels = this.opts.queue.watchCancels?.((id) => {
      const s = this.slots.find((x) => x.task?.id === id);
      if (s) void this.heartbeat(s, id);
    });
    this.opts.log.info({ event: "handler_started", worker: this.id, stages: this.opts.counts }, "worker handler started");
  }

  private setState(s: Slot, state: WorkerState): void {
    if (s.state === state) return;
    s.state = state;
    s.since = Date.now();
    void this.publish(s);
    this.onChange?.(s);
  }

  private spawn(s: Slot): void {
    if (this.stopping) return;
    const [cmd, ...pre] = selfCommand();
    const args = [...pre, "worker", "--child", s.name, "--stage", s.stage, "--socket", s.socketPath, ...(this.opts.childArgs ?? [])];
    s.error = null;
    s.spawnedAt = Date.now();
    s.sock = null;
    this.setState(s, "setup");
    // detached: the child leads its own process group, so a kill reaches everything it started.
    const proc = spawn(cmd!, args, { detached: true, stdio: ["ignore", "inherit", this.opts.childStderr ?? "inherit"], env: process.env });
    s.proc = proc;
    proc.on("exit", (code, signal) => this.onExit(s, proc.pid!, code, signal));
    proc.on("error", (e) => this.log(s).error({ event: "spawn_failed", err: e.message }, "could not start worker"));
    this.connectWhenReady(s, Date.now() + 60_000);
  }

  private connectWhenReady(s: Slot, deadline: number): void {
    const proc = s.proc;
    const attempt = () => {
      if (s.proc !== proc || this.stopped) return;
      if (!existsSync(s.socketPath)) {
        if (Date.now() > deadline) {
          this.log(s).error({ event: "setup_failed" }, "worker did not open its socket within 60 s; killing it");
          s.error = "did not open its socket in time";
          killGroup(s, "SIGKILL");
          return;
        }
        s.timers.connect = setTimeout(attempt, 20);
        return;
      }
      const sock = connect(s.socketPath);
      const decoder = new LineDecoder(childMessage);
      sock.on("connect", () => {
        s.sock = sock;
      });
      sock.on("data", (chunk) => {
        let lines;
        try {
          lines = decoder.push(chunk);
        } catch (e) {
          this.log(s).warn({ event: "ipc_error", err: (e as Error).message }, "worker sent an oversized line; restarting it");
          killGroup(s, "SIGKILL");
          return;
        }
        for (const d of lines) {
          if (d.ok) void this.onMessage(s, d.msg);
          else this.log(s).warn({ event: "ipc_error", err: d.error, line: d.line }, "ignored a bad line from a worker");
        }
      });
      sock.on("error", (e: NodeJS.ErrnoException) => {
        // The socket file can exist a moment before the child listens on it.
        if (!s.sock && (e.code === "ECONNREFUSED" || e.code === "ENOENT") && Date.now() < deadline) {
          s.timers.connect = setTimeout(attempt, 20);
        }
      });
    };
    attempt();
  }

  private async onMessage(s: Slot, m: ChildMessage): Promise<void> {
    const q = this.opts.queue;
    switch (m.type) {
      case "ready":
        s.defaultTimeoutS = m.defaultTimeoutS;
        s.setupFailures = 0;
        this.setState(s, "idle");
        this.log(s).info({ event: "worker_ready", pid: m.pid }, "worker ready");
        void this.dispatch(s);
        return;
      case "setup_failed":
        s.setupFailures++;
        s.error = m.error.message;
        this.setState(s, "setup_failed");
        this.log(s).error({ event: "setup_failed", err: m.error.message, failures: s.setupFailures }, `worker setup failed: ${m.error.message}`);
        return;
      case "progress":
        if (s.task?.id === m.task_id) await q.progress(m.task_id, s.id, m.fraction, m.note).catch(() => {});
        return;
      case "finished": {
        if (s.task?.id !== m.task_id) return;
        const id = m.task_id;
        this.endTask(s);
        // A child that can take more gets its next task in the same queue call that records this one.
        const more = !this.stopping && Boolean(s.sock);
        if (more) s.claiming = true;
        const r = await (more
          ? q.completeAndClaim(id, s.id, m.result, { stages: [s.stage], worker: s.id, leaseMs: this.leaseMs })
          : q.complete(id, s.id, m.result).then((completed) => ({ completed, next: null }))
        ).catch((e) => {
          this.log(s).error({ event: "complete_failed", task_id: id, err: (e as Error).message }, "could not record a finished task");
          return { completed: false, next: null };
        });
        s.claiming = false;
        if (r.completed) this.counters.finished++;
        taskLine(this.log(s), this.opts.log, "finished", s.stage, { task_id: id });
        if (r.next) return this.handOver(s, r.next);
        this.setState(s, "idle");
        void this.dispatch(s);
        return;
      }
      case "work_failed": {
        if (s.task?.id !== m.task_id) return;
        const id = m.task_id;
        this.endTask(s);
        const t = await q.fail(id, s.id, m.error, { retry: m.retry ?? true }).catch(() => null);
        if (t?.status === "failed") this.counters.failed++;
        taskLine(this.log(s), this.opts.log, "failed", s.stage);
        this.log(s).warn({ event: "task_failed", task_id: id, err: m.error.message, status: t?.status }, `task failed: ${m.error.message}`);
        this.setState(s, "idle");
        void this.dispatch(s);
        return;
      }
      case "worker_failed":
        s.error = m.error.message;
        this.log(s).error({ event: "worker_failed", err: m.error.message }, "worker reported itself broken; restarting it");
        killGroup(s, "SIGKILL");
        return;
    }
  }

  private endTask(s: Slot): void {
    clearTaskTimers(s);
    s.task = null;
  }

  private timeoutFor(s: Slot, timeoutS: number | null): number {
    const cfg = this.opts.config.task_timeout;
    return (timeoutS ?? cfg[s.stage] ?? cfg.default ?? s.defaultTimeoutS ?? 3600) * 1000;
  }

  private async dispatch(s: Slot): Promise<void> {
    if (this.stopping || s.state !== "idle" || s.claiming || s.task || !s.sock) return;
    s.claiming = true;
    let task;
    try {
      task = await this.opts.queue.claim({ stages: [s.stage], worker: s.id, leaseMs: this.leaseMs });
    } catch (e) {
      this.log(s).warn({ event: "claim_failed", err: (e as Error).message }, "could not claim from the queue");
      return;
    } finally {
      s.claiming = false;
    }
    if (!task) return;
    if (s.state !== "idle") {
      await this.opts.queue.release(task.id, s.id).catch(() => {});
      return;
    }
    await this.handOver(s, task);
  }

  /** Give a claimed task to the slot's child: started, sent, heartbeats and its deadline armed. */
  private async handOver(s: Slot, task: Task): Promise<void> {
    if ((s.state !== "idle" && s.state !== "working") || s.task || !s.sock || this.stopping) {
      await this.opts.queue.release(task.id, s.id).catch(() => {});
      if (s.state === "working" && !s.task) this.setState(s, "idle");
      return;
    }
    this.counters.claimed++;
    s.task = task;
    if (s.state === "working") {
      // Straight from one task to the next: the state stays, the record shows the new task.
      s.since = Date.now();
      void this.publish(s);
      this.onChange?.(s);
    } else this.setState(s, "working");
    // Recorded as started before the child can answer, so events stay in order on every backend.
    await this.opts.queue.start(task.id, s.id).catch(() => {});
    if (!s.sock || s.task?.id !== task.id) return;
    sendLine(s.sock, { type: "work", task: { ...task, status: "started" } as unknown as Record<string, unknown> });
    const tlog = this.log(s).child({ task_id: task.id });
    taskLine(tlog, this.opts.log, "started", s.stage);
    s.timers.heartbeat = setInterval(() => void this.heartbeat(s, task.id), Math.max(50, Math.floor(this.leaseMs / 3)));
    const timeoutMs = this.timeoutFor(s, task.timeoutS);
    s.timers.deadline = setTimeout(() => void this.onTimeout(s, task.id, timeoutMs), timeoutMs);
  }

  private async heartbeat(s: Slot, taskId: string): Promise<void> {
    if (s.task?.id !== taskId) return;
    const st = await this.opts.queue.heartbeat(taskId, s.id, this.leaseMs).catch(() => null);
    if (!st || s.task?.id !== taskId) return;
    if (st.cancelRequested || !st.held) {
      if (s.timers.cancelKill) return;
      this.log(s).info({ event: st.cancelRequested ? "task_cancel" : "lease_lost", task_id: taskId }, st.cancelRequested ? "task cancelled; telling the worker" : "lease lost; stopping the task");
      if (s.sock) sendLine(s.sock, { type: "cancel", task_id: taskId });
      s.timers.cancelKill = setTimeout(() => {
        if (s.task?.id !== taskId) return;
        this.log(s).warn({ event: "cancel_kill", task_id: taskId }, `worker did not stop within ${this.cancelGraceMs} ms of a cancel; killing it`);
        void this.abandonTask(s, { message: "cancelled; the worker was killed", code: "cancelled" }, false);
        killGroup(s, "SIGKILL");
      }, this.cancelGraceMs);
    }
  }

  private async onTimeout(s: Slot, taskId: string, timeoutMs: number): Promise<void> {
    if (s.task?.id !== taskId) return;
    this.counters.timeouts++;
    this.log(s).warn({ event: "task_timeout", task_id: taskId, timeout_ms: timeoutMs }, `task ran past its ${timeoutMs / 1000} s timeout; killing the worker`);
    await this.abandonTask(s, { message: `timed out after ${timeoutMs / 1000} s`, code: "timeout" }, true);
    killGroup(s, "SIGTERM");
    const proc = s.proc;
    setTimeout(() => {
      if (s.proc === proc) killGroup(s, "SIGKILL");
    }, 2_000);
  }

  /** Record the end of a task whose child is being killed, so its exit does not record it twice. */
  private async abandonTask(s: Slot, error: TaskError, retry: boolean): Promise<void> {
    const task = s.task;
    if (!task) return;
    this.endTask(s);
    const t = await this.opts.queue.fail(task.id, s.id, error, { retry }).catch(() => null);
    if (t?.status === "failed") this.counters.failed++;
  }

  private onExit(s: Slot, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (s.proc?.pid !== pid) return;
    if (s.timers.connect) clearTimeout(s.timers.connect);
    s.sock?.destroy();
    s.sock = null;
    s.proc = null;
    const how = signal ?? `code ${code}`;
    if (s.task) {
      const err = { message: `worker ${s.name} exited (${how}) while running the task`, code: "worker_died" };
      this.log(s).warn({ event: "worker_died", task_id: s.task.id, how }, err.message);
      void this.abandonTask(s, err, true);
    }
    if (this.stopping) {
      this.setState(s, "stopped");
      return;
    }
    let delay: number;
    if (s.state === "setup_failed") {
      delay = Math.min(60_000, 1000 * 2 ** Math.min(s.setupFailures - 1, 6));
      this.log(s).info({ event: "worker_restart", in_ms: delay }, `retrying setup in ${delay / 1000} s`);
    } else {
      // A child that keeps dying right after start backs off; one that ran a while restarts at once.
      s.crashStreak = Date.now() - s.spawnedAt < 5_000 ? s.crashStreak + 1 : 0;
      delay = s.crashStreak ? Math.min(30_000, 250 * 2 ** Math.min(s.crashStreak, 7)) : 0;
      this.log(s).warn({ event: "worker_exited", how, in_ms: delay }, `worker exited (${how}); restarting`);
      s.error = `exited (${how})`;
      this.setState(s, "restarting");
    }
    s.restarts++;
    this.counters.restarts++;
    s.timers.restart = setTimeout(() => this.spawn(s), delay);
  }

  record(s: Slot): WorkerRecord {
    return {
      name: s.id,
      kind: "child",
      host: this.host,
      pid: s.proc?.pid ?? 0,
      stage: s.stage,
      state: s.state,
      taskId: s.task?.id ?? null,
      since: s.since,
      heartbeatAt: Date.now(),
      restarts: s.restarts,
      handler: this.id,
      error: s.error,
    };
  }

  handlerRecord(): WorkerRecord {
    return {
      name: this.id,
      kind: "handler",
      host: this.host,
      pid: process.pid,
      stage: Object.keys(this.opts.counts).join(","),
      state: this.stopping ? "stopped" : "working",
      taskId: null,
      since: this.startedAt,
      heartbeatAt: Date.now(),
      restarts: this.counters.restarts,
      handler: null,
      error: null,
    };
  }

  private async publish(s: Slot): Promise<void> {
    if (this.stopped) return;
    await this.opts.queue.putWorker(this.record(s), REGISTRY_TTL_MS).catch(() => {});
  }

  private async publishAll(): Promise<void> {
    if (this.stopped) return;
    await this.opts.queue.putWorker(this.handlerRecord(), REGISTRY_TTL_MS).catch(() => {});
    for (const s of this.slots) await this.publish(s);
  }

  /**
   * Stop claiming; let running tasks finish for up to graceMs; give back what is still running
   * (not counted as a failed attempt); stop the children.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.opts.log.info({ event: "handler_stopping", grace_ms: this.graceMs }, "stopping: no new tasks; waiting for running ones");
    for (const t of this.timers) clearInterval(t);
    const deadline = Date.now() + this.graceMs;
    while (this.slots.some((s) => s.task || s.claiming) && Date.now() < deadline) await Bun.sleep(50);
    for (const s of this.slots) {
      if (s.timers.restart) clearTimeout(s.timers.restart);
      if (s.task) {
        const id = s.task.id;
        this.endTask(s);
        await this.opts.queue.release(id, s.id).catch(() => {});
        this.log(s).warn({ event: "task_requeued", task_id: id }, "grace period over; task given back to the queue");
      }
      if (s.sock) sendLine(s.sock, { type: "stop" });
      killGroup(s, "SIGTERM");
    }
    const exitDeadline = Date.now() + 3_000;
    while (this.slots.some((s) => s.proc) && Date.now() < exitDeadline) await Bun.sleep(50);
    for (const s of this.slots) if (s.proc) killGroup(s, "SIGKILL");
    this.stopped = true;
    this.unwatchCancels?.();
    for (const s of this.slots) await this.opts.queue.removeWorker(s.id).catch(() => {});
    await this.opts.queue.removeWorker(this.id).catch(() => {});
    flushTaskLines(this.opts.log);
    this.opts.log.info({ event: "handler_stopped" }, "worker handler stopped");
  }
}
