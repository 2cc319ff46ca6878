import { usageError } from "../core/errors.ts";
import type { SqliteQueueOptions } from "./sqlite.ts";

/** Placeholder until the Redis (BullMQ) backend lands: selecting it says so instead of failing obscurely. */
export class RedisQueue {
  constructor(_url: string, _opts: SqliteQueueOptions) {}
  async connect(): Promise<never> {
    throw usageError("the Redis queue backend is not built yet; use the default sqlite queue");
  }
}
