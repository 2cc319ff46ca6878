import type { StageStats, Task, TaskEvent, TaskStatus } from "../core/task.ts";
import { TASK_STATUSES } from "../core/task.ts";
import type { WorkerRecord } from "../core/worker-state.ts";
import type { Queue } from "../queue/types.ts";

/** What the tasks view asks for: a stage, a status, and free text matched against id/stage/worker. */
export interface TaskQuery {
  stage?: string;
  status?: TaskStatus;
  text?: string;
}

export interface ScanProgress {
  taskId: string;
  target: string;
  status: TaskStatus;
  fraction: number;
  note: string;
  openPorts: number | null;
  worker: string | null;
  at: number;
}

export interface StageRow {
  stage: string;
  queued: number;
  started: number;
  finished: number;
  failed: number;
  cancelled: number;
  failedLastHour: number;
  /** Finished per minute over the last five minutes. */
  perMinute: number;
}

/** One immutable picture of the deployment: what every view renders from. */
export interface Snapshot {
  version: number;
  now: number;
  loaded: boolean;
  workers: WorkerRecord[];
  stats: Record<string, StageStats>;
  stages: StageRow[];
  query: TaskQuery;
  /** The newest tasks matching the query, at most `windowSize` of them. */
  tasks: Task[];
  scans: ScanProgress[];
  error: string | null;
}

export interface StoreOptions {
  /** How many tasks the tasks view shows (only these are listed). */
  windowSize?: number;
  /** Listeners hear at most one change per this many ms (default 100: ~10 renders a second). */
  flushMs?: number;
  /** Re-read the worker registry this often (it has no events). */
  workersMs?: number;
  /** Re-query stats and the task window at most this often while events flow. */
  requeryMs?: number;
  /** Event poll interval for backends that poll. */
  pollMs?: number;
  /** Re-count the tasks that ended in the last hour and five minutes this often (index counts). */
  endedMs?: number;
  scanStage?: string;
}

const HOUR = 3_600_000;
const FIVE_MIN = 300_000;

/** Ended tasks per stage over a window: counted by the queue at `at`, plus the events that came after. */
interface EndedCounts {
  at: number;
  hourFailed: Record<string, number>;
  fiveMinFinished: Record<string, number>;
  /** End times from events at or after `at`, per stage (a few seconds' worth between re-counts). */
  failed: Map<string, number[]>;
  finished: Map<string, number[]>;
  /** Ids already counted from events (with their end time), so a repeated event does not count twice. */
  seen: Map<string, number>;
}

/**
 * The TUI's data: fed by the queue's event stream, never by re-listing everything on each event.
 * Events are folded in as they come; the expensive reads (stats, the task window, the worker
 * registry) are throttled, and listeners are told at most ~10 times a second.
 */
export class TuiStore {
  private snap: Snapshot;
  private listeners = new Set<() => void>();
  private unsubscribe: (() => void) | null = null;
  private timers: ReturnType<typeof setInterval>[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private dirty = { stats: false, tasks: false, scans: false, emit: false };
  private lastRequery = 0;
  private requeryTimer: ReturnType<typeof setTimeout> | null = null;
  private busy = false;
  private closed = false;
  /** Tasks that ended recently: counted by the queue's indexes, then kept up from events. */
  private ended: EndedCounts = { at: 0, hourFailed: {}, fiveMinFinished: {}, failed: new Map(), finished: new Map(), seen: new Map() };
  private scanMap = new Map<string, ScanProgress>();
  private scanResultWanted = new Set<string>();
  /** Where each listed task sits in the window, so an event finds its row without a scan. */
  private taskPos = new Map<string, number>();
  private readonly o: Required<StoreOptions>;

  constructor(
    readonly queue: Queue,
    opts: StoreOptions = {},
  ) {
    this.o = {
      windowSize: opts.windowSize ?? 200,
      flushMs: opts.flushMs ?? 100,
      workersMs: opts.workersMs ?? 1000,
      requeryMs: opts.requeryMs ?? 500,
      pollMs: opts.pollMs ?? 250,
      endedMs: opts.endedMs ?? 30_000,
      scanStage: opts.scanStage ?? "scan",
    };
    this.snap = {
      version: 0,
      now: Date.now(),
      loaded: false,
      workers: [],
      stats: {},
      stages: [],
      query: {},
      tasks: [],
      scans: [],
      error: null,
    };
  }

  get snapshot(): Snapshot {
    return this.snap;
  }

  /** For React's useSyncExternalStore. */
  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getSnapshot = (): Snapshot => this.snap;

  async start(): Promise<void> {
    // Subscribe first (from the current end of the log) so nothing between load and subscribe is lost.
    this.unsubscribe = this.queue.subscribe((e) => this.onEvent(e), {
      intervalMs: this.o.pollMs,
    });
    await this.loadAll();
    this.timers.push(
      setInterval(() => void this.refreshWorkers(), this.o.workersMs),
      setInterval(() => void this.recountEnded(), this.o.endedMs),
    );
  }

  stop(): void {
    this.closed = true;
    this.unsubscribe?.();
    for (const t of this.timers) clearInterval(t);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.requeryTimer) clearTimeout(this.requeryTimer);
    this.listeners.clear();
  }

  /** Change what the tasks view lists; re-queries at once. */
  async setQuery(q: TaskQuery): Promise<void> {
    this.set({ query: q });
    await this.requeryTasks();
    this.emitNow();
  }

  async loadAll(): Promise<void> {
    try {
      // Counters and index ranges only: the first paint costs the same at 1M kept tasks as at 100.
      const [workers, stats, scans] = await Promise.all([
        this.queue.listWorkers(),
        this.queue.stats(),
        this.queue.page({ stage: this.o.scanStage, limit: 50 }),
        this.recountEnded(false),
      ]);
      for (const t of scans.tasks.reverse()) this.scanMap.set(t.id, scanFromTask(t));
      this.set({ workers, stats, loaded: true, error: null });
      await this.requeryTasks();
      this.rebuildStages();
      this.rebuildScans();
    } catch (e) {
      this.set({ error: (e as Error).message, loaded: true });
    }
    this.emitNow();
  }

  /**
   * Count what ended in the last hour and five minutes from the queue's indexes; events add to it until the
   * next count. The count covers [.., at) and events count from `at` on, so no ending is counted twice or
   * missed at the boundary: `at` is a millisecond that has not begun when the subscription (or the previous
   * count) was read, and the count is only run once it has passed.
   */
  private async recountEnded(rebuild = true): Promise<void> {
    if (this.closed) return;
    try {
      const at = Date.now() + 1;
      while (Date.now() < at) await Bun.sleep(1);
      const [hour, five] = await Promise.all([this.queue.countEnded(at - HOUR, at), this.queue.countEnded(at - FIVE_MIN, at)]);
      const e = this.ended;
      // Events already folded in that the count now covers are dropped; later ones are kept.
      const keep = (m: Map<string, number[]>) => new Map([...m].map(([k, v]) => [k, v.filter((x) => x >= at)] as [string, number[]]));
      this.ended = {
        at,
        hourFailed: Object.fromEntries(Object.entries(hour).map(([k, v]) => [k, v.failed])),
        fiveMinFinished: Object.fromEntries(Object.entries(five).map(([k, v]) => [k, v.finished])),
        failed: keep(e.failed),
        finished: keep(e.finished),
        seen: new Map([...e.seen].filter(([, t]) => t >= at)),
      };
    } catch (err) {
      this.set({ error: (err as Error).message });
    }
    if (rebuild) {
      this.rebuildStages();
      this.dirty.emit = true;
      this.scheduleFlush();
    }
  }

  private async refreshWorkers(): Promise<void> {
    if (this.closed) return;
    try {
      const workers = await this.queue.listWorkers();
      this.set({ workers, error: null });
    } catch (e) {
      this.set({ error: (e as Error).message });
    }
    this.rebuildStages();
    this.dirty.emit = true;
    this.scheduleFlush();
  }

  /** Fold one event into the picture; the heavy reads wait for the throttled flush. */
  onEvent(e: TaskEvent): void {
    if (this.closed) return;
    if ((e.type === "finished" || e.type === "failed" || e.type === "cancelled") && e.at >= this.ended.at && !this.ended.seen.has(e.taskId)) {
      this.ended.seen.set(e.taskId, e.at);
      const m = e.type === "finished" ? this.ended.finished : this.ended.failed;
      const list = m.get(e.stage);
      if (list) list.push(e.at);
      else m.set(e.stage, [e.at]);
    }
    if (e.type !== "progress") this.dirty.stats = true;
    // Patch a visible task in place; a task we do not show may need a re-query (new, or now matching).
    const i = this.taskPos.get(e.taskId) ?? -1;
    if (i >= 0) {
      const t = { ...this.snap.tasks[i]! };
      t.status = e.status;
      if (e.worker !== undefined) t.worker = e.worker;
      if (e.type === "progress") {
        t.progress = num(e.data?.fraction, t.progress ?? 0);
        t.progressNote =
          typeof e.data?.note === "string" ? e.data.note : t.progressNote;
      }
      if (e.type === "started") t.startedAt = e.at;
      if (
        e.type === "finished" ||
        e.type === "failed" ||
        e.type === "cancelled"
      )
        t.finishedAt = e.at;
      const tasks = this.snap.tasks.slice();
      tasks[i] = t;
      this.snap = { ...this.snap, tasks };
      if (this.snap.query.status && t.status !== this.snap.query.status)
        this.dirty.tasks = true;
    } else if (e.type !== "progress" && matches(this.snap.query, e)) {
      this.dirty.tasks = true;
    }
    if (e.stage === this.o.scanStage) {
      const s = this.scanMap.get(e.taskId) ?? {
        taskId: e.taskId,
        target: "",
        status: e.status,
        fraction: 0,
        note: "",
        openPorts: null,
        worker: null,
        at: e.at,
      };
      s.status = e.status;
      s.at = e.at;
      if (e.worker) s.worker = e.worker;
      if (e.type === "progress") {
        s.fraction = num(e.data?.fraction, s.fraction);
        if (typeof e.data?.note === "string") s.note = e.data.note;
        const open = openPortsOf(e.data);
        if (open !== null) s.openPorts = open;
      }
      if (e.type === "finished") {
        s.fraction = 1;
        // The open ports of a finished scan are in its result: read it once, in the flush.
        this.scanResultWanted.add(e.taskId);
        this.dirty.scans = true;
      }
      if (!s.target) this.dirty.scans = true;
      this.scanMap.delete(e.taskId);
      this.scanMap.set(e.taskId, s);
      this.rebuildScans();
    }
    this.dirty.emit = true;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flush();
    }, this.o.flushMs);
  }

  private async flush(): Promise<void> {
    if (this.closed) return;
    if (this.busy) return this.scheduleFlush();
    const wait = this.lastRequery + this.o.requeryMs - Date.now();
    if (
      (this.dirty.stats || this.dirty.tasks || this.dirty.scans) &&
      wait > 0
    ) {
      // Emit what we have now; do the reads when the throttle allows.
      if (!this.requeryTimer)
        this.requeryTimer = setTimeout(() => {
          this.requeryTimer = null;
          this.scheduleFlush();
        }, wait);
      if (this.dirty.emit) this.emitNow();
      return;
    }
    this.busy = true;
    try {
      if (this.dirty.stats) {
        this.dirty.stats = false;
        this.lastRequery = Date.now();
        this.set({ stats: await this.queue.stats() });
        this.rebuildStages();
      }
      if (this.dirty.tasks) {
        this.dirty.tasks = false;
        this.lastRequery = Date.now();
        await this.requeryTasks();
      }
      if (this.dirty.scans) {
        this.dirty.scans = false;
        for (const s of this.scanMap.values()) {
          const wantResult = this.scanResultWanted.delete(s.taskId);
          if (s.target && !wantResult) continue;
          const t = await this.queue.get(s.taskId);
          if (!t) continue;
          s.target ||= targetOf(t.payload);
          if (wantResult)
            s.openPorts =
              openPortsOf(
                (t.result as Record<string, unknown> | null) ?? undefined,
              ) ?? s.openPorts;
        }
        this.scanResultWanted.clear();
        this.rebuildScans();
      }
      this.set({ error: null });
    } catch (e) {
      this.set({ error: (e as Error).message });
    } finally {
      this.busy = false;
    }
    this.emitNow();
  }

  private async requeryTasks(): Promise<void> {
    const q = this.snap.query;
    // One page from the indexes; free text searches every kept task (ids, and workers of running ones).
    const { tasks } = await this.queue.page({ stage: q.stage, status: q.status, text: q.text, limit: this.o.windowSize });
    this.taskPos = new Map(tasks.map((t, i) => [t.id, i]));
    this.set({ tasks });
  }

  private rebuildStages(): void {
    const now = Date.now();
    const names = new Set([
      ...Object.keys(this.snap.stats),
      ...this.snap.workers.map((w) => w.stage),
    ]);
    const e = this.ended;
    const since = (m: Map<string, number[]>, stage: string, from: number) => (m.get(stage) ?? []).filter((x) => x >= from).length;
    const stages: StageRow[] = [...names].sort().map((stage) => {
      const s = this.snap.stats[stage];
      return {
        stage,
        queued: s ? s.queued + s.created : 0,
        started: s ? s.requested + s.started : 0,
        finished: s?.finished ?? 0,
        failed: s?.failed ?? 0,
        cancelled: s?.cancelled ?? 0,
        failedLastHour: (e.hourFailed[stage] ?? 0) + since(e.failed, stage, now - HOUR),
        perMinute: ((e.fiveMinFinished[stage] ?? 0) + since(e.finished, stage, now - FIVE_MIN)) / 5,
      };
    });
    this.set({ stages, now });
  }

  private rebuildScans(): void {
    // Newest activity last in the map; keep the 50 most recent, show running ones first.
    while (this.scanMap.size > 50)
      this.scanMap.delete(this.scanMap.keys().next().value!);
    const all = [...this.scanMap.values()].reverse();
    const running = all.filter(
      (s) => s.status === "started" || s.status === "requested",
    );
    const rest = all.filter(
      (s) => !(s.status === "started" || s.status === "requested"),
    );
    this.set({ scans: [...running, ...rest].map((s) => ({ ...s })) });
  }

  private set(p: Partial<Snapshot>): void {
    this.snap = { ...this.snap, ...p };
  }

  private emitNow(): void {
    if (this.closed) return;
    this.dirty.emit = false;
    this.snap = {
      ...this.snap,
      version: this.snap.version + 1,
      now: Date.now(),
    };
    for (const l of this.listeners) l();
  }
}

function num(v: unknown, dflt: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : dflt;
}

function matches(q: TaskQuery, e: TaskEvent): boolean {
  // A text search reads every kept task: it runs when the filter is set, not again on each event
  // (the rows it found are still patched from events).
  if (q.text) return false;
  if (q.stage && e.stage !== q.stage) return false;
  if (q.status && e.status !== q.status) return false;
  return true;
}

/** Open ports found so far, if the scan stage reports them in its progress data. */
export function openPortsOf(
  data: Record<string, unknown> | undefined,
): number | null {
  if (!data) return null;
  // A scan stage result: `hosts[].ports` holds the open ports found.
  if (Array.isArray(data.hosts))
    return data.hosts.reduce(
      (n: number, h: { ports?: unknown[] }) =>
        n + (Array.isArray(h?.ports) ? h.ports.length : 0),
      0,
    );
  for (const k of ["openPorts", "open_ports", "open"]) {
    const v = data[k];
    if (typeof v === "number") return v;
    if (Array.isArray(v)) return v.length;
  }
  const m = typeof data.note === "string" ? /(\d+) open/.exec(data.note) : null;
  return m ? Number(m[1]) : null;
}

/** A short name for what a scan task scans, from its payload. */
export function targetOf(payload: unknown): string {
  if (typeof payload === "string") return payload;
  if (!payload || typeof payload !== "object") return "?";
  const p = payload as Record<string, unknown>;
  for (const k of ["target", "targets", "host", "hosts", "cidr"]) {
    const v = p[k];
    if (typeof v === "string") return v;
    // A submitted run's host sweep carries every address of the run (65 536 for a /16): name a few.
    if (Array.isArray(v)) return v.length > 3 ? `${v.slice(0, 2).map(String).join(",")} +${v.length - 2} more` : v.map(String).join(",");
  }
  return JSON.stringify(payload).slice(0, 40);
}

function scanFromTask(t: Task): ScanProgress {
  const r = t.result as Record<string, unknown> | null;
  return {
    taskId: t.id,
    target: targetOf(t.payload),
    status: t.status,
    fraction: t.status === "finished" ? 1 : (t.progress ?? 0),
    note: t.progressNote ?? "",
    openPorts:
      openPortsOf(r ?? undefined) ??
      openPortsOf({ note: t.progressNote ?? "" }),
    worker: t.worker,
    at: t.finishedAt ?? t.startedAt ?? t.createdAt,
  };
}

/** `/` filter text → a query: `stage:x`, `status:y`, a bare status or stage name, or free text. */
export function parseFilter(text: string, stages: string[]): TaskQuery {
  const q: TaskQuery = {};
  const free: string[] = [];
  for (const w of text.trim().split(/\s+/).filter(Boolean)) {
    const [k, v] = w.includes(":")
      ? [w.slice(0, w.indexOf(":")), w.slice(w.indexOf(":") + 1)]
      : ["", w];
    if (k === "stage" && v) q.stage = v;
    else if (k === "status" && (TASK_STATUSES as readonly string[]).includes(v))
      q.status = v as TaskStatus;
    else if (!k && (TASK_STATUSES as readonly string[]).includes(v))
      q.status = v as TaskStatus;
    else if (!k && stages.includes(v)) q.stage = v;
    else free.push(w);
  }
  if (free.length) q.text = free.join(" ");
  return q;
}

export function describeQuery(q: TaskQuery): string {
  const parts = [
    q.stage && `stage:${q.stage}`,
    q.status && `status:${q.status}`,
    q.text,
  ].filter(Boolean);
  return parts.length ? parts.join(" ") : "all";
}
