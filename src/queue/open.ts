import { resolve } from "node:path";
import { usageError } from "../core/errors.ts";
import { homePaths } from "../core/paths.ts";
import type { Queue } from "./types.ts";
import { SqliteQueue } from "./sqlite.ts";
import type { RedisQueueOptions } from "./redis.ts";

export interface OpenQueueOptions extends RedisQueueOptions {
  home: string;
  /**
   * Return the Redis queue before it is reachable; the caller awaits `queue.connect()` once it can report an
   * outage meanwhile (falc worker serves /health first). A URL the server refuses still fails in connect().
   */
  deferConnect?: boolean;
}

/**
 * "sqlite" → FALC_HOME/queue.sqlite; "sqlite:/path" → that file; "redis://…" → the Redis backend.
 * The Redis module is imported only when asked for, so the default never loads ioredis.
 */
export async function openQueue(spec: string, opts: OpenQueueOptions): Promise<Queue> {
  const s = spec.trim();
  if (s === "sqlite" || s === "") return new SqliteQueue(homePaths(opts.home).queueDb, opts);
  if (s.startsWith("sqlite:")) {
    const path = s.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (!path) throw usageError("queue `sqlite:` needs a path, e.g. sqlite:/var/lib/falc/queue.sqlite");
    return new SqliteQueue(resolve(path), opts);
  }
  if (/^rediss?:/i.test(s)) {
    const { RedisQueue } = await import("./redis.ts");
    const q = new RedisQueue(s, opts);
    if (!opts.deferConnect) await q.connect();
    return q;
  }
  throw usageError(`unknown queue \`${spec}\`: use sqlite, sqlite:/path/to/db, or redis://host:port/db`);
}
