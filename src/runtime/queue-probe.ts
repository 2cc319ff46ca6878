import type { StageStats } from "../core/task.ts";
import type { Queue } from "../queue/types.ts";

/** SQLite's words for a damaged file: not something a retry fixes, so /health says "corrupt", not "unreachable". */
export function isCorruption(msg: string): boolean {
  return /malformed|not a database|corrupt|SQLITE_CORRUPT|SQLITE_NOTADB/i.test(msg);
}

/**
 * What the process knows about its queue, without ever waiting on it: a stats() call at most once a second,
 * judged down when it fails or has not answered within `timeoutMs`. /health and /metrics read only this.
 */
export class QueueProbe {
  up = true;
  /** When the queue stopped answering (epoch ms), while it is down. */
  downSince: number | null = null;
  error: string | null = null;
  stats: Record<string, StageStats> | null = null;
  private pending: { at: number } | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private queue: Queue,
    private intervalMs = 1000,
    private timeoutMs = 800,
  ) {}

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Other callers' failures count too (a claim that fails because the file is corrupt). */
  failed(msg: string): void {
    if (this.up) this.downSince = Date.now();
    this.up = false;
    this.error = msg;
  }

  ok(): void {
    this.up = true;
    this.downSince = null;
    this.error = null;
  }

  get corrupt(): boolean {
    return !this.up && isCorruption(this.error ?? "");
  }

  /** One line for /health, or null while the queue answers. */
  reason(): string | null {
    if (this.up) return null;
    if (this.corrupt) return `queue corrupt: ${this.error}`;
    return `queue unreachable since ${new Date(this.downSince ?? Date.now()).toISOString()} (${this.error})`;
  }

  private async tick(): Promise<void> {
    if (this.pending) {
      // A call still out (Redis down, a persistent client waiting for it): no second one, but say so in time.
      if (Date.now() - this.pending.at > this.timeoutMs && this.up) this.failed(`no answer within ${this.timeoutMs} ms`);
      return;
    }
    const p = { at: Date.now() };
    this.pending = p;
    const late = setTimeout(() => this.pending === p && this.failed(`no answer within ${this.timeoutMs} ms`), this.timeoutMs);
    try {
      this.stats = await this.queue.stats();
      this.ok();
    } catch (e) {
      this.failed((e as Error).message.split("\n")[0] ?? String(e));
    } finally {
      clearTimeout(late);
      this.pending = null;
    }
  }
}
