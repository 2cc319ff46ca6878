import Redis from "ioredis";
import { connect as netConnect } from "node:net";
import { backoffDelay } from "../core/backoff.ts";
import { conflict, FalcError, inputError, notFound, unavailable, usageError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import {
  newTaskId,
  payloadJson,
  STAGE_NAME,
  type EnqueueInput,
  type StageStats,
  type Task,
  type TaskError,
  type TaskEvent,
  type TaskEventType,
  type TaskFilter,
  type TaskStatus,
  TASK_STATUSES,
  emptyStageStats,
} from "../core/task.ts";
import type { WorkerRecord } from "../core/worker-state.ts";
import type { ClaimOptions, DocStore, FailOptions, LeaseStatus, PruneOptions, Queue, TaskPage } from "./types.ts";
import { redisPage, type RedisPageQuery } from "./redis-page.ts";
import type { SqliteQueueOptions } from "./sqlite.ts";
import { pollEvents } from "./poll-events.ts";
import { falcScripts, RESERVED_IDS } from "./redis-lua.ts";
import { parseRedisUrl, type RedisTarget } from "./redis-url.ts";
import { hashToTask } from "./redis-task.ts";

export interface RedisQueueOptions extends SqliteQueueOptions {
  /**
   * Long-running processes (workers): wait for Redis at start and through outages, never failing a
   * command for want of a connection. Otherwise (CLI commands) give up after connectTimeoutMs.
   */
  persistent?: boolean;
  connectTimeoutMs?: number;
  /** Where a persistent queue says, once per outage, that Redis is unreachable and later that it is back. */
  log?: Logger;
}

/** Enqueue scripts take this many tasks at a time, so one batch never blocks Redis for long. */
const ENQUEUE_CHUNK = 1000;
const CANCEL_CHANNEL = "falc:_cancel";

type Script = (...args: (string | number)[]) => Promise<unknown>;
type Scripted = Redis & Record<string, Script>;

/** Backoff between reconnects: 100 ms doubling to 5 s, less up to 20 % jitter so many workers do not reconnect in step. */
export function reconnectDelayMs(attempt: number): number {
  return backoffDelay(attempt, { baseMs: 100, maxMs: 5000, jitter: 0.2 });
}

/**
 * The Queue on Redis: the same behaviour as the SQLite backend (the conformance suite proves it), with
 * every transition one Lua script (redis-lua.ts) and each stage visible to BullMQ and Bull Board as the
 * queue falc:<stage>. Workers on any number of machines share one Redis.
 */
export class RedisQueue implements Queue {
  readonly kind = "redis" as const;
  readonly url: string;
  private target: RedisTarget;
  private redis: Scripted;
  private sub: Redis | null = null;
  private cancelListeners = new Set<(taskId: string) => void>();
  private opts: Required<SqliteQueueOptions> & RedisQueueOptions;
  private closed = false;
  private lastError: string | null = null;
  private outageSince: number | null = null;
  private outageNoted = 0;
  private everReady = false;
  private outageTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(spec: string, opts: RedisQueueOptions = {}) {
    this.target = parseRedisUrl(spec);
    this.url = this.target.display;
    this.opts = { retryBaseMs: 1000, retryCapMs: 5 * 60_000, defaultMaxAttempts: 3, keepEvents: 200_000, connectTimeoutMs: 3000, ...opts };
    this.redis = this.client() as Scripted;
    for (const [name, lua] of Object.entries(falcScripts(this.opts.keepEvents))) this.redis.defineCommand(name, { numberOfKeys: 0, lua });
    this.watchConnection(this.redis);
  }

  private client(): Redis {
    const t = this.target;
    return new Redis({
      host: t.host,
      port: t.port,
      db: t.db,
      username: t.username,
      password: t.password,
      tls: t.tls ? {} : undefined,
      connectionName: "falc",
      // Reconnect forever with backoff; what a caller waits for is decided per process (persistent or not).
      retryStrategy: (n) => (this.closed ? null : reconnectDelayMs(n)),
      maxRetriesPerRequest: this.opts.persistent ? null : 2,
      connectTimeout: 5000,
      // ioredis arms this timer on disconnect and clears it only on a close event that a refused connection has
      // already had: at its 2 s default every one-shot command without Redis outlived its error line by 2 s.
      disconnectTimeout: 100,
      enableReadyCheck: true,
      // A command whose answer was lost in a disconnect is sent again after the reconnect: every script
      // is safe to repeat (enqueue carries a nonce; the others find the task already moved).
      autoResendUnfulfilledCommands: true,
    });
  }

  private watchConnection(r: Redis): void {
    const log = this.opts.log;
    r.on("error", (e: Error) => {
      // Without a listener ioredis prints every failed attempt with a stack; one line per outage is enough.
      this.lastError = e.message.split("\n")[0] ?? String(e);
      // A refused URL is not an outage: connect() reports it as a usage error instead.
      if (!this.fatal(e.message)) this.noteOutage();
    });
    r.on("close", () => {
      if (!this.closed && this.everReady) this.noteOutage();
    });
    r.on("ready", () => {
      this.everReady = true;
      if (this.outageSince !== null && this.outageNoted) {
        const s = ((Date.now() - this.outageSince) / 1000).toFixed(1);
        log?.info({ event: "queue_reachable", queue: this.url, after_s: Number(s) }, `queue ${this.url} reachable again after ${s} s`);
      }
      this.outageSince = null;
      this.outageNoted = 0;
    });
  }

  private noteOutage(): void {
    if (this.closed) return;
    const now = Date.now();
    this.outageSince ??= now;
    const log = this.opts.log;
    if (!log) return;
    // Before the first connection, wait half a second: a server that refuses the URL (a wrong password, not Redis)
    // is then reported as that, once, instead of first as an outage.
    if (!this.everReady && this.outageNoted === 0 && now - this.outageSince < 500) {
      this.outageTimer ??= setTimeout(() => {
        this.outageTimer = null;
        if (!this.closed && this.redis.status !== "ready") this.noteOutage();
      }, 500 - (now - this.outageSince));
      return;
    }
    // One line when it starts, then a reminder a minute apart: enough to see, never a flood.
    if (this.outageNoted === 0 || now - this.outageNoted >= 60_000) {
      const first = this.outageNoted === 0;
      this.outageNoted = now;
      const why = this.lastError ?? "connection lost";
      log.warn(
        { event: "queue_unreachable", queue: this.url, err: why, since_s: Math.round((now - this.outageSince) / 1000) },
        first ? `queue ${this.url} unreachable (${why}); retrying with backoff` : `queue ${this.url} still unreachable (${why}); retrying`,
      );
    }
  }

  /**
   * An answer that says the URL itself is wrong (no such database, credentials refused, not a Redis server):
   * waiting or reconnecting cannot help, and falling back to another database would serve the wrong queue.
   */
  private fatal(msg: string): FalcError | null {
    const t = this.target;
    const why = msg.replace(/\s*Please report this\.?/, "");
    if (/DB index is out of range|invalid DB index/i.test(msg))
      return usageError(`queue URL ${this.url}: the Redis server has no database ${t.db} (${why}); use one it has (0-15 unless it sets \`databases\`)`);
    if (/WRONGPASS|NOAUTH|invalid password|invalid username-password|AUTH.*without any password/i.test(msg))
      return usageError(`queue URL ${this.url}: the Redis server refused the credentials (${why})`);
    if (/Unknown RESP type|Protocol error/i.test(msg))
      return usageError(`queue URL ${this.url}: the server at ${t.host}:${t.port} does not speak the Redis protocol (${why})`);
    return null;
  }

  /**
   * Wait until Redis answers: forever when persistent, else connectTimeoutMs, then one clear error. A URL the
   * server refuses (database out of range, bad password, not Redis) is a usage error at once, in both modes.
   */
  async connect(): Promise<void> {
    // ioredis meets a non-Redis server with broken pipes and reconnects, and only sometimes sees its reply: ask once.
    const probe = this.redis.status !== "ready" && !this.target.tls ? await speaksResp(this.target.host, this.target.port) : null;
    if (typeof probe === "string") {
      this.closed = true;
      this.redis.disconnect();
      throw this.fatal(`Protocol error: it answered PING with ${JSON.stringify(probe)}`)!;
    }
    if (this.redis.status !== "ready")
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          this.redis.off("ready", onReady);
          this.redis.off("error", onError);
          if (timer) clearTimeout(timer);
        };
        const onReady = () => {
          done();
          resolve();
        };
        const onError = (e: Error) => {
          const f = this.fatal(e.message);
          if (!f) return;
          done();
          this.closed = true;
          this.redis.disconnect();
          reject(f);
        };
        const timer = this.opts.persistent
          ? null
          : setTimeout(() => {
              done();
              this.closed = true;
              this.redis.disconnect();
              reject(unavailable(`cannot reach the Redis queue at ${this.url}: ${this.lastError ?? "no answer"}`));
            }, this.opts.connectTimeoutMs);
        this.redis.on("ready", onReady);
        this.redis.on("error", onError);
      });
    // A Redis Cluster node accepts the connection and then refuses scripts whose keys span slots, task by task:
    // say so at start instead (README, "Limits").
    const info = String(await this.redis.info("cluster").catch(() => ""));
    if (/^cluster_enabled:1/m.test(info)) {
      this.closed = true;
      this.redis.disconnect();
      throw usageError(
        `queue URL ${this.url}: the server at ${this.target.host}:${this.target.port} is a Redis Cluster node; falc needs a standalone Redis (or a Sentinel or managed primary), since its scripts touch keys in many slots`,
      );
    }
    // ioredis reports a refused SELECT as an error event and goes on with database 0: ask again, and refuse.
    try {
      await this.redis.select(this.target.db);
    } catch (e) {
      const f = this.fatal((e as Error).message) ?? unavailable(`the Redis queue at ${this.url} refused SELECT ${this.target.db}: ${(e as Error).message}`);
      this.closed = true;
      this.redis.disconnect();
      throw f;
    }
  }

  /** Connection trouble becomes one actionable line; everything else passes through. */
  private async call<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if (e instanceof FalcError) throw e;
      const msg = (e as Error).message ?? String(e);
      if (/max retries|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|Stream isn't writeable|offline queue/i.test(msg))
        throw unavailable(`the Redis queue at ${this.url} is unreachable: ${msg.split("\n")[0]}`);
      throw e;
    }
  }

  private script(name: string, ...args: (string | number)[]): Promise<unknown> {
    if (this.closed) return Promise.reject(unavailable(`the queue ${this.url} is closed`));
    return this.call(this.redis[name]!(...args));
  }

  async enqueue<P>(input: EnqueueInput<P>): Promise<Task<P>> {
    return (await this.enqueueMany([input]))[0]!;
  }

  async enqueueMany<P>(inputs: EnqueueInput<P>[]): Promise<Task<P>[]> {
    if (!inputs.length) return [];
    const rows = inputs.map((i) => this.prepare(i));
    // Caller-chosen ids are checked before any chunk is written, so a clash inserts nothing (each chunk is atomic).
    const custom = rows.filter((r) => r.custom).map((r) => r.id);
    if (custom.length) {
      if (new Set(custom).size !== custom.length) throw conflict(`the batch has the same task id twice`);
      const taken = (await this.call(this.redis.hmget("falc:_t", ...custom))) as (string | null)[];
      const i = taken.findIndex((s) => s !== null);
      if (i >= 0) throw conflict(`a task with id ${custom[i]} already exists`);
    }
    const out: Task<P>[] = [];
    for (let at = 0; at < rows.length; at += ENQUEUE_CHUNK) {
      const chunk = rows.slice(at, at + ENQUEUE_CHUNK);
      const argv: (string | number)[] = [chunk.length, newTaskId()];
      for (const r of chunk) argv.push(r.id, r.stage, r.payload, r.priority, r.runAt ?? "", r.delayMs, r.maxAttempts, r.timeoutS ?? "", r.parentId ?? "");
      const res = (await this.script("falcEnqueue", ...argv)) as string[];
      if (res[0] === "dup") throw conflict(`the batch has the task id ${res[1]} twice`);
      if (res[0] === "exists") throw conflict(`a task with id ${res[1]} already exists`);
      const now = Number(res[1]);
      for (const r of chunk) {
        const runAt = r.runAt ?? now + r.delayMs;
        out.push({
          id: r.id,
          stage: r.stage,
          payload: JSON.parse(r.payload) as P,
          status: "queued",
          attempts: 0,
          maxAttempts: r.maxAttempts,
          priority: r.priority,
          createdAt: now,
          queuedAt: now,
          requestedAt: null,
          startedAt: null,
          finishedAt: null,
          runAt,
          timeoutS: r.timeoutS ?? null,
          error: null,
          result: null,
          parentId: r.parentId ?? null,
          worker: null,
          leaseUntil: null,
          progress: null,
          progressNote: null,
          cancelRequested: false,
          token: 0,
          errors: [],
        });
      }
    }
    return out;
  }

  private prepare<P>(input: EnqueueInput<P>) {
    if (!input.stage) throw inputError("a task needs a stage");
    // Stage names become key names; the registry allows no others anyway.
    if (!STAGE_NAME.test(input.stage)) throw inputError(`invalid stage name \`${input.stage}\` (lowercase letters, digits, - and _)`);
    const payload = payloadJson(input.payload);
    const custom = input.id !== undefined;
    const id = input.id ?? newTaskId();
    if (!id) throw inputError("a task id cannot be empty");
    if (RESERVED_IDS.has(id)) throw inputError(`task id \`${id}\` is reserved on the Redis queue (a BullMQ key name); choose another`);
    const priority = input.priority ?? 0;
    if (!Number.isFinite(priority)) throw inputError("a task's priority must be a number");
    return {
      id,
      custom,
      stage: input.stage,
      payload,
      priority,
      runAt: input.runAt,
      delayMs: Math.max(0, input.delayMs ?? 0),
      maxAttempts: input.maxAttempts ?? this.opts.defaultMaxAttempts,
      timeoutS: input.timeoutS,
      parentId: input.parentId,
    };
  }

  async claim(opts: ClaimOptions): Promise<Task | null> {
    if (!opts.stages.length) return null;
    const h = (await this.script("falcClaim", opts.worker, Math.max(1, Math.round(opts.leaseMs)), opts.start ? "1" : "0", ...opts.stages)) as string[] | null;
    return h ? hashToTask(h) : null;
  }

  async start(id: string, worker: string, token?: number): Promise<void> {
    await this.script("falcStart", id, worker, tok(token));
  }

  async heartbeat(id: string, worker: string, leaseMs: number, token?: number): Promise<LeaseStatus> {
    const [held, cancel] = (await this.script("falcHeartbeat", id, worker, Math.max(1, Math.round(leaseMs)), tok(token))) as number[];
    return { held: held === 1, cancelRequested: cancel === 1 };
  }

  async progress(id: string, worker: string, fraction: number, note?: string, token?: number): Promise<void> {
    const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
    await this.script("falcProgress", id, worker, String(f), note ?? "", note === undefined ? "0" : "1", JSON.stringify({ fraction: f, note: note ?? null }), tok(token));
  }

  async complete(id: string, worker: string, result?: unknown, token?: number): Promise<boolean> {
    const json = result === undefined ? undefined : JSON.stringify(result);
    return (await this.script("falcComplete", id, worker, json ?? "", json === undefined ? "0" : "1", tok(token))) === 1;
  }

  async completeAndClaim(id: string, worker: string, result: unknown, next: ClaimOptions, token?: number): Promise<{ completed: boolean; next: Task | null }> {
    const json = result === undefined ? undefined : JSON.stringify(result);
    if (!next.stages.length) return { completed: await this.complete(id, worker, result, token), next: null };
    const [done, h] = (await this.script(
      "falcCompleteAndClaim",
      id,
      worker,
      json ?? "",
      json === undefined ? "0" : "1",
      tok(token),
      next.worker,
      Math.max(1, Math.round(next.leaseMs)),
      next.start ? "1" : "0",
      ...next.stages,
    )) as [number, string[] | null];
    return { completed: done === 1, next: h ? hashToTask(h) : null };
  }

  async fail(id: string, worker: string, error: TaskError, opts: FailOptions = {}): Promise<Task | null> {
    const { attempt: _a, ...rest } = error;
    const errJson = JSON.stringify({ ...rest, message: rest.message ?? "failed" });
    const h = (await this.script(
      "falcFail",
      id,
      worker,
      errJson,
      rest.message ?? "failed",
      rest.stack ? JSON.stringify([rest.stack]) : "",
      (opts.retry ?? true) ? "1" : "0",
      opts.delayMs === undefined ? "" : Math.max(0, Math.round(opts.delayMs)),
      this.opts.retryBaseMs,
      this.opts.retryCapMs,
      tok(opts.token),
      JSON.stringify({ message: rest.message ?? "failed", ...(rest.code ? { code: rest.code } : {}) }),
    )) as string[] | null;
    return h ? hashToTask(h) : null;
  }

  async release(id: string, worker: string, token?: number): Promise<boolean> {
    return (await this.script("falcRelease", id, worker, tok(token))) === 1;
  }

  async cancel(id: string): Promise<Task> {
    const r = (await this.script("falcCancel", id)) as [string, string[] | string];
    if (r[0] === "notfound") throw notFound(`no task with id ${id}`);
    if (r[0] === "final") throw conflict(`task ${id} is already ${r[1]}; only queued or running tasks can be cancelled`);
    return hashToTask(r[1] as string[]);
  }

  async retry(id: string): Promise<Task> {
    const r = (await this.script("falcRetry", id)) as [string, string[] | string];
    if (r[0] === "notfound") throw notFound(`no task with id ${id}`);
    if (r[0] === "status") throw conflict(`task ${id} is ${r[1]}; only failed or cancelled tasks can be retried`);
    if (r[0] === "held") throw conflict(`task ${id} is still being stopped by worker ${r[1]}; retry in a moment`);
    return hashToTask(r[1] as string[]);
  }

  async get(id: string): Promise<Task | null> {
    const h = (await this.script("falcGet", id)) as string[] | null;
    return h ? hashToTask(h) : null;
  }

  /** The first page of page(): the same indexes, so its cost is the page's, never the history's. */
  async list(filter: TaskFilter = {}): Promise<Task[]> {
    return (await this.page({ ...filter, limit: filter.limit ?? 1000 })).tasks;
  }

  async page(filter: RedisPageQuery): Promise<TaskPage> {
    return this.call(redisPage(this.redis, filter));
  }

  async countEnded(since: number, until?: number): Promise<Record<string, { finished: number; failed: number }>> {
    const stages = (await this.call(this.redis.smembers("falc:_stages"))) as string[];
    if (!stages.length) return {};
    const pipe = this.redis.pipeline();
    for (const s of stages) {
      const to = until === undefined ? "+inf" : `(${Math.ceil(until)}`;
      pipe.zcount(`falc:${s}:completed`, Math.ceil(since), to);
      pipe.zcount(`falc:${s}:failed`, Math.ceil(since), to);
    }
    const res = (await this.call(pipe.exec())) ?? [];
    const out: Record<string, { finished: number; failed: number }> = {};
    stages.forEach((s, i) => {
      const finished = Number(res[2 * i]?.[1] ?? 0);
      const failed = Number(res[2 * i + 1]?.[1] ?? 0);
      if (finished || failed) out[s] = { finished, failed };
    });
    return out;
  }

  async prune(o: PruneOptions): Promise<number> {
    const set = o.bucket === "finished" ? "completed" : "failed";
    const lim = Math.max(1, Math.min(o.limit, 10_000));
    return Number(await this.script("falcPrune", o.stage, set, o.endedBefore === undefined ? "" : Math.floor(o.endedBefore), o.keepNewest === undefined ? "" : Math.floor(o.keepNewest), lim));
  }

  /** Redis frees a deleted key's memory at once. */
  async compact(): Promise<void> {}

  async stats(): Promise<Record<string, StageStats>> {
    const flat = (await this.script("falcStats")) as (string | number)[];
    const out: Record<string, StageStats> = {};
    for (let i = 0; i < flat.length; i += 3) (out[flat[i] as string] ??= emptyStageStats())[flat[i + 1] as TaskStatus] = Number(flat[i + 2]);
    return out;
  }

  /** The stream has no index by task: read it in pages and keep this task's events (a CLI's occasional call). */
  async history(id: string): Promise<TaskEvent[]> {
    const out: TaskEvent[] = [];
    for (let since = 0; ; ) {
      const page = await this.events(since, 5000);
      for (const e of page) if (e.taskId === id) out.push(e);
      if (page.length < 5000) return out;
      since = page.at(-1)!.seq;
    }
  }

  async events(since: number, limit = 1000): Promise<TaskEvent[]> {
    const rows = (await this.call(this.redis.xrange("falc:_events", String(Math.max(0, Math.floor(since)) + 1), "+", "COUNT", Math.max(1, limit)))) as [string, string[]][];
    return rows.map(([id, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i < f.length; i += 2) m[f[i]!] = f[i + 1]!;
      return {
        seq: Number(id.slice(0, id.indexOf("-"))),
        at: Number(m.a),
        taskId: m.i!,
        stage: m.s!,
        type: m.y as TaskEventType,
        status: m.t as TaskStatus,
        worker: m.w ? m.w : null,
        data: m.d ? JSON.parse(m.d) : undefined,
      };
    });
  }

  subscribe(listener: (e: TaskEvent) => void, opts: { since?: number; intervalMs?: number } = {}): () => void {
    const intervalMs = opts.intervalMs ?? 250;
    if (opts.since !== undefined) return pollEvents(this, listener, opts.since, intervalMs);
    // Where the log ends now is only known after a round trip; the poller starts from there.
    let stop: (() => void) | null = null;
    let stopped = false;
    void this.call(this.redis.get("falc:_seq"))
      .catch(() => "0")
      .then((s) => {
        if (!stopped) stop = pollEvents(this, listener, Number(s ?? 0), intervalMs);
      });
    return () => {
      stopped = true;
      stop?.();
    };
  }

  /** Running tasks cancelled anywhere, pushed at once (the heartbeat answer says it too, a little later). */
  watchCancels(listener: (taskId: string) => void): () => void {
    this.cancelListeners.add(listener);
    if (!this.sub) {
      const sub = this.client();
      sub.on("error", () => {});
      sub.on("message", (_ch: string, id: string) => {
        for (const l of this.cancelListeners) l(id);
      });
      void sub.subscribe(CANCEL_CHANNEL).catch(() => {});
      this.sub = sub;
    }
    return () => {
      this.cancelListeners.delete(listener);
    };
  }

  async reapExpired(): Promise<number> {
    return Number(await this.script("falcReap", 1000));
  }

  /** Shared documents: one hash per kind, `falc:_docs:<kind>` (id → JSON). */
  docs(): DocStore {
    const key = (kind: string) => `falc:_docs:${kind}`;
    return {
      get: async <T>(kind: string, id: string) => {
        const v = (await this.call(this.redis.hget(key(kind), id))) as string | null;
        return v === null ? null : (JSON.parse(v) as T);
      },
      list: async <T>(kind: string) => {
        const all = (await this.call(this.redis.hgetall(key(kind)))) as Record<string, string>;
        return Object.keys(all)
          .sort()
          .map((id) => ({ id, value: JSON.parse(all[id]!) as T }));
      },
      put: async (kind: string, id: string, value: unknown, opts: { ifAbsent?: boolean } = {}) => {
        const v = JSON.stringify(value);
        if (opts.ifAbsent) return ((await this.call(this.redis.hsetnx(key(kind), id, v))) as number) === 1;
        await this.call(this.redis.hset(key(kind), id, v));
        return true;
      },
      delete: async (kind: string, id: string) => ((await this.call(this.redis.hdel(key(kind), id))) as number) > 0,
      clear: async (kind: string) => {
        await this.call(this.redis.del(key(kind)));
      },
    };
  }

  async acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.script("falcLockAcquire", key, owner, ttl(ttlMs))) === 1;
  }

  async renewLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.script("falcLockRenew", key, owner, ttl(ttlMs))) === 1;
  }

  async releaseLock(key: string, owner: string): Promise<boolean> {
    return (await this.script("falcLockRelease", key, owner)) === 1;
  }

  async putWorker(rec: WorkerRecord, ttlMs: number): Promise<void> {
    await this.script("falcWorkerPut", rec.name, JSON.stringify(rec), ttl(ttlMs));
  }

  async removeWorker(name: string): Promise<void> {
    await this.call(this.redis.multi().del(`falc:_w:${name}`).zrem("falc:_workers", name).exec());
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    const recs = (await this.script("falcWorkerList")) as (string | null)[];
    return recs
      .filter((r): r is string => Boolean(r))
      .map((r) => JSON.parse(r) as WorkerRecord)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async close(): Promise<void> {
    if (this.closed && this.redis.status === "end") return;
    this.closed = true;
    this.cancelListeners.clear();
    const quit = async (r: Redis) => {
      // QUIT lets answers in flight arrive; a connection that is down is simply dropped. The cap's timer is
      // cleared, so a one-shot command exits as soon as Redis has answered QUIT (not a second later).
      if (r.status === "ready") {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([r.quit().catch(() => {}), new Promise((res) => (timer = setTimeout(res, 1000)))]);
        clearTimeout(timer);
      }
      r.disconnect();
    };
    await Promise.all([quit(this.redis), this.sub ? quit(this.sub) : Promise.resolve()]);
  }
}

const ttl = (ms: number) => Math.max(1, Math.ceil(ms));

/**
 * Send PING and read the first byte of the answer: a Redis server (even one that wants a password) answers in RESP
 * (+ - : $ * and RESP3's others). true = RESP; a string = the start of what answered instead; null = no verdict
 * (refused, silent, slow: the normal connection logic decides).
 */
export function speaksResp(host: string, port: number, timeoutMs = 1500): Promise<true | string | null> {
  return new Promise((resolve) => {
    const sock = netConnect({ host, port });
    const done = (v: true | string | null) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.once("data", (b: Buffer) => done("+-:$*_,#!=(%~>|".includes(String.fromCharCode(b[0]!)) || b.subarray(0, 12).toString("latin1").replace(/[^\x20-\x7e]/g, "?")));
    sock.once("error", () => done(null));
    sock.once("close", () => done(null));
  });
}
/** The attempt token as a script argument; '' = check the worker id only. */
const tok = (token: number | undefined) => (token === undefined ? "" : String(Math.floor(token)));
