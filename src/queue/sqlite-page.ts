import type { Database } from "bun:sqlite";
import { inputError } from "../core/errors.ts";
import { TASK_STATUSES, type Task, type TaskFilter, type TaskStatus } from "../core/task.ts";
import type { SearchSource } from "./search-page.ts";

export interface PageQuery extends TaskFilter {
  after?: string | null;
  text?: string;
}

interface Key {
  c: number;
  r: number;
}

/** A page cursor: where the last task of the page sits in (created_at, rowid) order. */
function encode(k: Key): string {
  return `${k.c.toString(36)}.${k.r.toString(36)}`;
}

function decode(s: string): Key {
  const m = /^([0-9a-z]+)\.([0-9a-z]+)$/.exec(s);
  if (!m) throw inputError(`invalid page cursor \`${s}\`; pass the \`next\` value of the previous page`);
  return { c: parseInt(m[1]!, 36), r: parseInt(m[2]!, 36) };
}

/**
 * The rowids of one page, newest (or oldest) first, by keyset pagination over tasks_list
 * (stage, status, created_at): one index range per (stage, status) pair, at most `limit` keys from each,
 * merged here. Never a scan of the history and never an OFFSET. (A text search is searchPage's, below.)
 */
export function pageRowids(db: Database, q: PageQuery): { rowids: number[]; next: string | null } {
  const limit = Math.max(1, Math.min(q.limit ?? 50, 1_000_000));
  const newest = q.order !== "oldest";
  const after = q.after ? decode(q.after) : null;
  const cmp = newest ? "<" : ">";
  const dir = newest ? "DESC" : "ASC";
  const afterSql = after ? ` AND (created_at, rowid) ${cmp} (?, ?)` : "";
  const afterArgs = after ? [after.c, after.r] : [];
  const wanted = q.status ? (Array.isArray(q.status) ? q.status : [q.status]) : (TASK_STATUSES as readonly TaskStatus[]);
  let keys: Key[] = [];
  if (q.parentId) {
    // Children of one task are few: its index range, filtered.
    const st = ` AND status IN (${wanted.map(() => "?").join(",")})`;
    keys = db
      .query(
        `SELECT created_at AS c, rowid AS r FROM tasks WHERE parent_id = ?${q.stage ? " AND stage = ?" : ""}${st}${afterSql}
         ORDER BY created_at ${dir}, rowid ${dir} LIMIT ${limit + 1}`,
      )
      .all(q.parentId, ...(q.stage ? [q.stage] : []), ...wanted, ...afterArgs) as Key[];
  } else {
    // Only pairs that have tasks, from the maintained counters.
    const pairs = (db.query("SELECT stage, status FROM task_counts WHERE n > 0").all() as { stage: string; status: TaskStatus }[]).filter(
      (p) => (!q.stage || p.stage === q.stage) && wanted.includes(p.status),
    );
    const one = db.query(
      `SELECT created_at AS c, rowid AS r FROM tasks INDEXED BY tasks_list WHERE stage = ? AND status = ?${afterSql}
       ORDER BY created_at ${dir}, rowid ${dir} LIMIT ${limit + 1}`,
    );
    for (const p of pairs) keys.push(...(one.all(p.stage, p.status, ...afterArgs) as Key[]));
    keys.sort((a, b) => (newest ? b.c - a.c || b.r - a.r : a.c - b.c || a.r - b.r));
  }
  const more = keys.length > limit;
  keys = keys.slice(0, limit);
  return { rowids: keys.map((k) => k.r), next: more && keys.length ? encode(keys[keys.length - 1]!) : null };
}

/** A text search's reads on SQLite: ids from the primary-key index, running tasks from tasks_lease. */
export function sqliteSearchSource(db: Database, load: (id: string) => Task | null): SearchSource {
  return {
    async idsWithPrefix(prefix, after, newest, n) {
      // Every id with the prefix sorts below prefix + U+10FFFF, the largest code point (UTF-8 byte order).
      const bound = after === null ? "" : newest ? " AND id < ?" : " AND id > ?";
      const rows = db
        .query(`SELECT id FROM tasks WHERE id >= ? AND id < ?${bound} ORDER BY id ${newest ? "DESC" : "ASC"} LIMIT ${Math.max(1, Math.floor(n))}`)
        .all(prefix, `${prefix}\u{10ffff}`, ...(after === null ? [] : [after])) as { id: string }[];
      return rows.map((r) => r.id);
    },
    async tasks(ids) {
      return ids.map(load);
    },
    async heads(ids) {
      const get = db.query("SELECT stage, status, parent_id AS parentId FROM tasks WHERE id = ?");
      return ids.map((id) => get.get(id) as Pick<Task, "stage" | "status" | "parentId"> | null);
    },
    async runningWithWorker(text) {
      const rows = db
        .query("SELECT id FROM tasks WHERE status IN ('requested','started') AND instr(lower(COALESCE(worker,'')), ?) > 0")
        .all(text) as { id: string }[];
      return rows.flatMap((r) => load(r.id) ?? []);
    },
  };
}
