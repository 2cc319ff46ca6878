import { inputError } from "../core/errors.ts";
import { TASK_STATUSES, type Task, type TaskFilter, type TaskStatus } from "../core/task.ts";

/**
 * What a backend gives a text search: ids by prefix from an index ordered by id (SQLite's primary key,
 * Redis's falc:_ids), the tasks of some ids, and the running tasks (the only ones that name a worker).
 */
export interface SearchSource {
  /** At most n ids starting with prefix, strictly beyond `after` (below it when newest), in id order. */
  idsWithPrefix(prefix: string, after: string | null, newest: boolean, n: number): Promise<string[]>;
  /** The tasks of these ids, in the same order (null for one deleted meanwhile). */
  tasks(ids: string[]): Promise<(Task | null)[]>;
  /** Only what a filter looks at, cheaper than the whole task (null for one deleted meanwhile). */
  heads(ids: string[]): Promise<(Pick<Task, "stage" | "status" | "parentId"> | null)[]>;
  /** Tasks held by a worker whose name contains `text` (lowercase): running ones only, a short list. */
  runningWithWorker(text: string): Promise<Task[]>;
}

/** Ids a search reads at most per page: the page's cost is bounded even when a filter keeps few of them. */
export const SEARCH_SCAN_CAP = 5000;
const BATCH = 500;

/** Search cursors carry the last id (hex of its UTF-8), told apart from list cursors by the `x-`. */
export function encodeSearchCursor(id: string): string {
  return `x-${Buffer.from(id, "utf8").toString("hex")}`;
}

export function decodeSearchCursor(s: string): string {
  const m = /^x-((?:[0-9a-f]{2})*)$/.exec(s);
  if (!m) throw inputError(`invalid page cursor \`${s}\`; pass the \`next\` value of the previous page`);
  return Buffer.from(m[1]!, "hex").toString("utf8");
}

/** Byte order of UTF-8, the order of both indexes (SQLite BINARY, Redis lex). */
export function idCompare(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * One page of a text search: tasks whose id starts with `text` (case-sensitive, from the id index, so
 * every kept task is searched at the cost of the page), and running tasks whose worker name contains it
 * (any case). Ordered by id: newest first for falc's own ids, which start with their creation time.
 * A page reads at most SEARCH_SCAN_CAP ids; when a filter keeps fewer than `limit` of them it comes back
 * short with `next` set.
 */
export async function searchPage(
  src: SearchSource,
  q: TaskFilter & { after?: string | null; text: string },
  bounds: { scanCap: number; batch: number } = { scanCap: SEARCH_SCAN_CAP, batch: BATCH },
): Promise<{ tasks: Task[]; next: string | null }> {
  const limit = Math.max(1, Math.min(q.limit ?? 50, 1_000_000));
  const newest = q.order !== "oldest";
  const text = q.text.trim();
  const after = q.after ? decodeSearchCursor(q.after) : null;
  const wanted = new Set<TaskStatus>(q.status ? (Array.isArray(q.status) ? q.status : [q.status]) : TASK_STATUSES);
  const keep = (t: Pick<Task, "stage" | "status" | "parentId">) => (!q.stage || t.stage === q.stage) && wanted.has(t.status) && (!q.parentId || t.parentId === q.parentId);
  const beyond = (id: string, mark: string) => (newest ? idCompare(id, mark) < 0 : idCompare(id, mark) > 0);
  const found: Task[] = [];
  let cursor = after;
  let scanned = 0;
  let exhausted = false;
  const filtered = Boolean(q.stage || q.status || q.parentId);
  while (found.length <= limit && scanned < bounds.scanCap) {
    // Unfiltered, every id is a match: read no more than the page needs (and one more to know of a next).
    const n = Math.min(filtered ? bounds.batch : limit + 1 - found.length, bounds.scanCap - scanned);
    const ids = await src.idsWithPrefix(text, cursor, newest, n);
    // With a filter, read only the fields it needs first (most ids may be dropped), then whole tasks for
    // as many kept ids as the page still needs; the cursor stops at the last id read in full.
    const heads = filtered && ids.length ? await src.heads(ids) : null;
    let upto = ids.length;
    let want = ids;
    if (heads) {
      want = [];
      for (let i = 0; i < ids.length; i++) {
        if (heads[i] && keep(heads[i]!)) want.push(ids[i]!);
        if (want.length === limit + 1 - found.length) {
          upto = i + 1;
          break;
        }
      }
    }
    const tasks = want.length ? await src.tasks(want) : [];
    for (const t of tasks) if (t && keep(t)) found.push(t);
    scanned += upto;
    if (upto) cursor = ids[upto - 1]!;
    if (ids.length < n) {
      exhausted = upto === ids.length && found.length <= limit;
      break;
    }
  }
  // Workers: a running task named by its worker joins the ids read so far (never one already found by id).
  const lower = text.toLowerCase();
  const byWorker = (await src.runningWithWorker(lower)).filter(
    (t) => !t.id.startsWith(text) && keep(t) && (after === null || beyond(t.id, after)) && (exhausted || cursor === null || !beyond(t.id, cursor)),
  );
  const all = [...found, ...byWorker].sort((a, b) => (newest ? idCompare(b.id, a.id) : idCompare(a.id, b.id)));
  if (all.length > limit) return { tasks: all.slice(0, limit), next: encodeSearchCursor(all[limit - 1]!.id) };
  return { tasks: all, next: exhausted || cursor === null ? null : encodeSearchCursor(cursor) };
}
