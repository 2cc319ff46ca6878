import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { Config } from "../core/config.ts";
import { configError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { homePaths } from "../core/paths.ts";
import { nodeFingerprint, nodeId } from "../core/node-id.ts";
import type { Task, TaskError } from "../core/task.ts";
import type { WorkerRecord, WorkerState } from "../core/worker-state.ts";
import type { Queue } from "../queue/types.ts";
import { Backoff, backoffDelay } from "../core/backoff.ts";
import type { RunOutcome, RuntimeObserver } from "./metrics.ts";
import { killProcessGroup, waitGroupGone } from "../core/process-group.ts";
import { childMessage, LineDecoder, monoMs, sendLine, type ChildMessage } from "./ipc.ts";
import { selfCommand } from "./self.ts";
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
  /** Between SIGTERM and SIGKILL when a run is stopped (timeout, shutdown). */
  killGraceMs?: number;
  /** Arguments the children get so they read the same config and queue. */
  childArgs?: string[];
  /** Where children's stderr (their logs) goes; default the handler's own stderr. */
  childStderr?: number;
  /** Environment the children get on top of the handler's (the queue URL: never in argv, where ps shows it). */
  childEnv?: Record<string, string>;
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
  /** The node id (config `node:` / FALC_NODE, else host name + FALC_HOME hash): the name every view shows. */
  readonly host: string;
  readonly fingerprint: string;
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
  private killGraceMs: number;
  /**
   * How much sooner than the queue's lease a child's run must be confirmed (see ipc.ts): the child kills its
   * run at (heartbeat sent) + lease − margin, before the queue can hand the task out again.
   */
  private leaseMarginMs: number;
  /** Told of claims, ended runs and restarts (metrics). */
  observer?: RuntimeObserver;
  /** Told when a queue call fails and when it works again (the health probe). */
  onQueueError?: (message: string | null) => void;
  /** Claims pause with backoff while the queue fails them (a corrupt file, an outage): one log line, not a flood. */
  private claimPause = { until: 0, backoff: new Backoff({ baseMs: 500, maxMs: 30_000, jitter: 0.2 }), logged: "", loggedAt: 0 };
  /** Called on every worker state change (TUI, metrics). */
  onChange?: (s: Slot) => void;

  constructor(private opts: HandlerOptions) {
    this.host = nodeId(opts.config);
    this.fingerprint = nodeFingerprint(opts.config.home);
    this.id = `handler@${this.host}:${process.pid}`;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 200;
    this.graceMs = opts.graceMs ?? 30_000;
    this.cancelGraceMs = opts.cancelGraceMs ?? 5_000;
    this.killGraceMs = opts.killGraceMs ?? 2_000;
    this.leaseMarginMs = Math.floor(this.leaseMs / 4);
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
          ending: false,
          runStartedAt: 0,
          pgid: 0,
          claiming: false,
          timers: {},
        });
      }
    }
  }

  private logs = new Map<Slot, Logger>();
  private log(s: Slot | null): Logger {
    if (!s) return this.opts.log;
    let l = this.logs.get(s);
    if (!l) this.logs.set(s, (l = this.opts.log.child({ worker: s.name, stage: s.stage })));
    return l;
  }

  start(): void {
    mkdirSync(homePaths(this.opts.config.home).sockets, { recursive: true, mode: 0o700 });
    for (const s of this.slots) this.spawn(s);
    this.timers.push(setInterval(() => this.slots.forEach((s) => void this.dispatch(s)), this.pollMs));
    this.timers.push(setInterval(() => void this.publishAll(), 3_000));
    this.timers.push(
      setInterval(
        () => void this.opts.queue.reapExpired().catch((e) => this.quietWarn("reap_failed", e, "tasks of dead workers wait for the next sweep")),
        5_000,
      ),
    );
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
    const proc = spawn(cmd!, args, { detached: true, stdio: ["ignore", "inherit", this.opts.childStderr ?? "inherit"], env: { ...process.env, ...this.opts.childEnv } });
    s.proc = proc;
    s.pgid = proc.pid ?? 0;
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
      case "progress": {
        const task = this.current(s, m.task_id, m.token);
        if (task)
          await q.progress(task.id, s.id, m.fraction, m.note, task.token).catch((e) =>
            this.log(s).warn({ event: "progress_failed", task_id: task.id, err: (e as Error).message }, "could not record progress; the run goes on"),
          );
        return;
      }
      case "finished": {
        const task = this.current(s, m.task_id, m.token);
        if (!task) return;
        const id = task.id;
        this.endTask(s);
        // A child that can take more gets its next task in the same queue call that records this one.
        const more = !this.stopping && Boolean(s.sock);
        if (more) s.claiming = true;
        const t0 = monoMs();
        const r = await (more
          ? q.completeAndClaim(id, s.id, m.result, { stages: [s.stage], worker: s.id, leaseMs: this.leaseMs, start: true }, task.token)
          : q.complete(id, s.id, m.result, task.token).then((completed) => ({ completed, next: null }))
        ).catch((e) => {
          this.log(s).error(
            { event: "complete_failed", task_id: id, err: (e as Error).message },
            "could not record a finished task; it runs again when its lease expires",
          );
          return { completed: false, next: null };
        });
        s.claiming = false;
        this.ended(s, r.completed ? "finished" : "refused");
        if (r.completed) {
          this.counters.finished++;
          this.log(s).info({ event: "task_finished", task_id: id }, "task finished");
        } else
          this.log(s).warn(
            { event: "result_refused", task_id: id, token: task.token },
            "the queue refused the result: this run no longer held the task (cancelled, or its lease was lost)",
          );
        if (r.next) return this.handOver(s, r.next, t0);
        this.setState(s, "idle");
        void this.dispatch(s);
        return;
      }
      case "work_failed": {
        const task = this.current(s, m.task_id, m.token);
        if (!task) return;
        const id = task.id;
        this.endTask(s);
        const t = await q.fail(id, s.id, m.error, { retry: m.retry ?? true, token: task.token }).catch((e) => {
          this.log(s).error({ event: "fail_failed", task_id: id, err: (e as Error).message }, "could not record a failed run; it runs again when its lease expires");
          return null;
        });
        if (t?.status === "failed") this.counters.failed++;
        this.ended(s, !t ? "refused" : t.status === "failed" ? "failed" : t.status === "cancelled" ? "cancelled" : "retried");
        this.log(s).warn({ event: "task_failed", task_id: id, err: m.error.message, status: t?.status ?? "refused" }, `task failed: ${m.error.message}`);
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

  /** The slot's task, if a message about `id` (and `token`) is about the run in progress and not one being stopped. */
  private current(s: Slot, id: string, token: number | undefined): Task | null {
    const t = s.task;
    if (!t || s.ending || t.id !== id || (token !== undefined && token !== t.token)) return null;
    return t;
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
    if (this.stopping || s.state !== "idle" || s.claiming || s.task || !s.sock || Date.now() < this.claimPause.until) return;
    s.claiming = true;
    let task;
    const t0 = monoMs();
    try {
      task = await this.opts.queue.claim({ stages: [s.stage], worker: s.id, leaseMs: this.leaseMs, start: true });
    } catch (e) {
      this.claimFailed((e as Error).message.split("\n")[0] ?? String(e));
      return;
    } finally {
      s.claiming = false;
    }
    if (this.claimPause.backoff.attempts) {
      this.opts.log.info({ event: "claim_recovered" }, "the queue answers claims again");
      this.claimPause.backoff.reset();
      this.claimPause.logged = "";
      this.onQueueError?.(null);
    }
    if (!task) return;
    if (s.state !== "idle") {
      await this.giveBack(s, task);
      return;
    }
    await this.handOver(s, task, t0);
  }

  private claimFailed(msg: string): void {
    const p = this.claimPause;
    const delay = p.backoff.next();
    p.until = Date.now() + delay;
    this.onQueueError?.(msg);
    // Said once, then a reminder a minute apart, with what it means for the work.
    if (msg !== p.logged || Date.now() - p.loggedAt > 60_000) {
      p.logged = msg;
      p.loggedAt = Date.now();
      this.opts.log.error(
        { event: "claim_failed", err: msg, retry_in_ms: delay },
        `cannot claim from the queue (${msg}); no new tasks start until it answers; retrying with backoff`,
      );
    }
  }

  private warned = new Map<string, number>();
  /** A queue call that failed without harm to any task: said with its consequence, once a minute per kind. */
  private quietWarn(event: string, e: unknown, consequence: string): void {
    const last = this.warned.get(event) ?? 0;
    if (Date.now() - last < 60_000) return;
    this.warned.set(event, Date.now());
    const msg = (e as Error)?.message?.split("\n")[0] ?? String(e);
    this.opts.log.warn({ event, err: msg }, `${msg}: ${consequence}`);
  }

  private ended(s: Slot, outcome: RunOutcome): void {
    this.observer?.ended(s.stage, outcome, (Date.now() - s.runStartedAt) / 1000);
  }

  /** A claimed task that no child took: back to the queue at once (no run started, so no group to wait for). */
  private async giveBack(s: Slot, task: Task): Promise<void> {
    await this.opts.queue.release(task.id, s.id, task.token).catch((e) =>
      this.log(s).warn({ event: "release_failed", task_id: task.id, err: (e as Error).message }, "could not give a task back; it runs when its lease expires"),
    );
  }

  /**
   * Give a claimed task to the slot's child: started, sent, heartbeats and its deadline armed.
   * `t0` (monoMs) was taken before the claim was sent, so the queue's lease runs at least until t0 + lease.
   */
  private async handOver(s: Slot, task: Task, t0: number): Promise<void> {
    if ((s.state !== "idle" && s.state !== "working") || s.task || !s.sock || this.stopping) {
      await this.giveBack(s, task);
      if (s.state === "working" && !s.task) this.setState(s, "idle");
      return;
    }
    this.counters.claimed++;
    s.task = task;
    s.runStartedAt = Date.now();
    this.observer?.claimed(s.stage, (s.runStartedAt - Math.max(task.runAt, task.queuedAt ?? task.createdAt)) / 1000);
    if (s.state === "working") {
      // Straight from one task to the next: the state stays, the record shows the new task (a moment later:
      // one registry write per task would cost as much as the task's own queue step).
      s.since = Date.now();
      this.publishSoon(s);
      this.onChange?.(s);
    } else this.setState(s, "working");
    // Recorded as started before the child can answer, so events stay in order on every backend (claims made
    // with start: true already did so in the same step).
    if (task.status !== "started")
      await this.opts.queue.start(task.id, s.id, task.token).catch((e) =>
        this.log(s).warn({ event: "start_failed", task_id: task.id, err: (e as Error).message }, "could not record the start; the task runs anyway"),
      );
    if (!s.sock || s.task !== task) return;
    sendLine(s.sock, {
      type: "work",
      task: { ...task, status: "started" } as unknown as Record<string, unknown>,
      lease_until_mono: t0 + this.leaseMs - this.leaseMarginMs,
    });
    this.log(s).info({ event: "task_started", task_id: task.id }, "task started");
    s.timers.heartbeat = setInterval(() => void this.heartbeat(s, task.id), Math.max(50, Math.floor(this.leaseMs / 3)));
    const timeoutMs = this.timeoutFor(s, task.timeoutS);
    s.timers.deadline = setTimeout(() => void this.onTimeout(s, task.id, timeoutMs), timeoutMs);
  }

  private async heartbeat(s: Slot, taskId: string): Promise<void> {
    const task = s.task;
    if (task?.id !== taskId) return;
    const t0 = monoMs();
    const st = await this.opts.queue.heartbeat(taskId, s.id, this.leaseMs, task.token).catch((e) => {
      this.log(s).warn(
        { event: "heartbeat_failed", task_id: taskId, err: (e as Error).message },
        "could not renew the lease; the run is killed if it is not renewed in time",
      );
      return null;
    });
    if (!st || s.task !== task) return;
    if (st.held && !st.cancelRequested) {
      if (!s.ending && s.sock) sendLine(s.sock, { type: "lease", task_id: taskId, token: task.token, until_mono: t0 + this.leaseMs - this.leaseMarginMs });
      return;
    }
    if (s.ending || s.timers.cancelKill) return;
    if (!st.cancelRequested) {
      // Someone else may hold the task now: the run must stop at once, and nothing about it can be recorded.
      this.log(s).warn({ event: "lease_lost", task_id: taskId, token: task.token }, "lease lost; killing the run");
      void this.stopRun(s, 0, "lease_lost");
      return;
    }
    this.log(s).info({ event: "task_cancel", task_id: taskId }, "task cancelled; telling the worker");
    if (s.sock) sendLine(s.sock, { type: "cancel", task_id: taskId });
    s.timers.cancelKill = setTimeout(() => {
      if (s.task !== task) return;
      this.log(s).warn({ event: "cancel_kill", task_id: taskId }, `worker did not stop within ${this.cancelGraceMs} ms of a cancel; killing it`);
      void this.stopRun(s, 0, "cancelled", { message: "cancelled; the worker was killed", code: "cancelled" }, false);
    }, this.cancelGraceMs);
  }

  private async onTimeout(s: Slot, taskId: string, timeoutMs: number): Promise<void> {
    if (s.task?.id !== taskId || s.ending) return;
    this.counters.timeouts++;
    this.log(s).warn({ event: "task_timeout", task_id: taskId, timeout_ms: timeoutMs }, `task ran past its ${timeoutMs / 1000} s timeout; killing the worker`);
    await this.stopRun(s, this.killGraceMs, "timeout", { message: `timed out after ${timeoutMs / 1000} s`, code: "timeout" }, true);
  }

  /**
   * Stop the run in progress and only then record it: TERM its process group (none when graceMs is 0), KILL
   * after graceMs, wait until no member is left, and meanwhile keep renewing the lease, so the queue cannot
   * hand the task to anyone while any part of this run lives. Then fail (or release) it with its token.
   */
  private async stopRun(s: Slot, graceMs: number, why: RunOutcome, error?: TaskError, retry = true, release = false): Promise<void> {
    const task = s.task;
    if (!task || s.ending) return;
    s.ending = true;
    if (s.timers.deadline) clearTimeout(s.timers.deadline);
    if (s.timers.cancelKill) clearTimeout(s.timers.cancelKill);
    const pgid = s.pgid;
    if (pgid > 1) {
      let gone = await killProcessGroup(pgid, graceMs, 5_000);
      while (!gone) {
        this.log(s).error({ event: "group_survives", task_id: task.id, pgid }, "processes of a killed run survive SIGKILL; the task stays held until they are gone");
        gone = await waitGroupGone(pgid, 10_000);
      }
    }
    clearTaskTimers(s);
    this.ended(s, why);
    s.task = null;
    s.ending = false;
    if (release) {
      await this.giveBack(s, task);
      this.log(s).warn({ event: "task_requeued", task_id: task.id }, "grace period over; task given back to the queue");
    } else if (error) {
      const t = await this.opts.queue.fail(task.id, s.id, error, { retry, token: task.token }).catch((e) => {
        this.log(s).error({ event: "fail_failed", task_id: task.id, err: (e as Error).message }, "could not record a stopped run; it runs again when its lease expires");
        return null;
      });
      if (t?.status === "failed") this.counters.failed++;
    }
    this.log(s).info({ event: "run_stopped", task_id: task.id, why }, `run stopped (${why}); its process group is gone`);
  }

  private onExit(s: Slot, pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (s.proc?.pid !== pid) return;
    if (s.timers.connect) clearTimeout(s.timers.connect);
    s.sock?.destroy();
    s.sock = null;
    s.proc = null;
    void this.afterExit(s, signal ?? `code ${code}`, s.state);
  }

  /**
   * A child is gone: its run (if any) is recorded only once nothing of its process group is left, then the
   * child is started again. Only a child that never got through setup backs off; one killed by its task (a
   * crash, a timeout, an OOM kill) restarts at once, since the next task may be fine.
   */
  private async afterExit(s: Slot, how: string, was: WorkerState): Promise<void> {
    if (s.task && !s.ending) {
      const err = { message: `worker ${s.name} exited (${how}) while running the task`, code: "worker_died" };
      this.log(s).warn({ event: "worker_died", task_id: s.task.id, how }, err.message);
      await this.stopRun(s, 0, "worker_died", err, true);
    }
    while (s.ending) await Bun.sleep(20);
    if (this.stopping) {
      this.setState(s, "stopped");
      return;
    }
    let delay = 0;
    if (was === "setup_failed") {
      delay = backoffDelay(s.setupFailures, { baseMs: 1000, maxMs: 60_000 });
      this.log(s).info({ event: "worker_restart", in_ms: delay }, `retrying setup in ${delay / 1000} s`);
    } else {
      s.crashStreak = was === "setup" ? s.crashStreak + 1 : 0;
      if (s.crashStreak) delay = backoffDelay(s.crashStreak, { baseMs: 250, maxMs: 30_000, jitter: 0.2 });
      this.log(s).warn({ event: "worker_exited", how, in_ms: delay }, `worker exited (${how}); restarting${delay ? ` in ${delay / 1000} s (it died during setup)` : ""}`);
      s.error = `exited (${how})`;
      this.setState(s, "restarting");
    }
    s.restarts++;
    this.counters.restarts++;
    this.observer?.restarted(s.stage);
    s.timers.restart = setTimeout(() => this.spawn(s), delay);
  }

  record(s: Slot): WorkerRecord {
    return {
      name: s.id,
      kind: "child",
      host: this.host,
      fingerprint: this.fingerprint,
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
      fingerprint: this.fingerprint,
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

  private publishTimers = new Map<Slot, ReturnType<typeof setTimeout>>();
  private publishSoon(s: Slot): void {
    if (this.publishTimers.has(s)) return;
    this.publishTimers.set(
      s,
      setTimeout(() => {
        this.publishTimers.delete(s);
        void this.publish(s);
      }, 250),
    );
  }

  private async publish(s: Slot): Promise<void> {
    if (this.stopped) return;
    await this.opts.queue.putWorker(this.record(s), REGISTRY_TTL_MS).catch((e) =>
      this.quietWarn("registry_failed", e, "falc tasks workers and the TUI show this worker late or not at all"),
    );
  }

  private async publishAll(): Promise<void> {
    if (this.stopped) return;
    await this.opts.queue.putWorker(this.handlerRecord(), REGISTRY_TTL_MS).catch((e) =>
      this.quietWarn("registry_failed", e, "falc tasks workers and the TUI show this worker late or not at all"),
    );
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
    // What still runs is stopped first and given back only once its process group is gone.
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.timers.restart) clearTimeout(s.timers.restart);
        if (s.task && !s.ending) await this.stopRun(s, this.killGraceMs, "released", undefined, true, true);
        while (s.ending) await Bun.sleep(20);
        if (s.sock) sendLine(s.sock, { type: "stop" });
        if (s.proc) killGroup(s, "SIGTERM");
      }),
    );
    const exitDeadline = Date.now() + 3_000;
    while (this.slots.some((s) => s.proc) && Date.now() < exitDeadline) await Bun.sleep(50);
    for (const s of this.slots) if (s.proc) killGroup(s, "SIGKILL");
    // A child killed before it could remove its socket leaves the file: a clean stop leaves none.
    for (const s of this.slots) rmSync(s.socketPath, { force: true });
    this.stopped = true;
    this.unwatchCancels?.();
    const gone = (e: unknown) => this.quietWarn("unregister_failed", e, `the registry shows this handler's workers until their records expire (${REGISTRY_TTL_MS / 1000} s)`);
    for (const s of this.slots) await this.opts.queue.removeWorker(s.id).catch(gone);
    await this.opts.queue.removeWorker(this.id).catch(gone);
    this.opts.log.info({ event: "handler_stopped" }, "worker handler stopped");
  }
}
