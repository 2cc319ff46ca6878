import type { Database } from "bun:sqlite";
import { inputError } from "../core/errors.ts";
import { TASK_STATUSES, type TaskFilter, type TaskStatus } from "../core/task.ts";

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
 * merged here. Never a scan of the history and never an OFFSET.
 */
export function pageRowids(db: Database, q: PageQuery): { rowids: number[]; next: string | null } {
  const limit = Math.max(1, Math.min(q.limit ?? 50, 1_000_000));
  const newest = q.order !== "oldest";
  const after = q.after ? decode(q.after) : null;
  const cmp = newest ? "<" : ">";
  const dir = newest ? "DESC" : "ASC";
  const text = q.text?.trim() || null;
  const textSql = text ? " AND (instr(lower(id), ?) > 0 OR instr(lower(COALESCE(worker,'')), ?) > 0)" : "";
  const textArgs = text ? [text.toLowerCase(), text.toLowerCase()] : [];
  const afterSql = after ? ` AND (created_at, rowid) ${cmp} (?, ?)` : "";
  const afterArgs = after ? [after.c, after.r] : [];
  const wanted = q.status ? (Array.isArray(q.status) ? q.status : [q.status]) : (TASK_STATUSES as readonly TaskStatus[]);
  let keys: Key[] = [];
  if (text && !q.parentId) {
    keys = searchKeys(db, text, q, wanted, after, newest);
  } else if (q.parentId) {
    // Children of one task are few: its index range, filtered.
    const st = ` AND status IN (${wanted.map(() => "?").join(",")})`;
    keys = db
      .query(
        `SELECT created_at AS c, rowid AS r FROM tasks WHERE parent_id = ?${q.stage ? " AND stage = ?" : ""}${st}${afterSql}${textSql}
         ORDER BY created_at ${dir}, rowid ${dir} LIMIT ${limit + 1}`,
      )
      .all(q.parentId, ...(q.stage ? [q.stage] : []), ...wanted, ...afterArgs, ...textArgs) as Key[];
  } else {
    // Only pairs that have tasks, from the maintained counters.
    const pairs = (db.query("SELECT stage, status FROM task_counts WHERE n > 0").all() as { stage: string; status: TaskStatus }[]).filter(
      (p) => (!q.stage || p.stage === q.stage) && wanted.includes(p.status),
    );
    const one = db.query(
      `SELECT created_at AS c, rowid AS r FROM tasks INDEXED BY tasks_list WHERE stage = ? AND status = ?${afterSql}${textSql}
       ORDER BY created_at ${dir}, rowid ${dir} LIMIT ${limit + 1}`,
    );
    for (const p of pairs) keys.push(...(one.all(p.stage, p.status, ...afterArgs, ...textArgs) as Key[]));
    keys.sort((a, b) => (newest ? b.c - a.c || b.r - a.r : a.c - b.c || a.r - b.r));
  }
  const more = keys.length > limit;
  keys = keys.slice(0, limit);
  return { rowids: keys.map((k) => k.r), next: more && keys.length ? encode(keys[keys.length - 1]!) : null };
}

/** Matches a text search collects at most (newest ids first) before it filters and pages. */
const SEARCH_CAP = 100_000;

/**
 * Free text against every kept task: a scan of the primary-key index alone (ids only, never the rows with
 * their payloads and results), newest ids first, plus the running tasks' workers; then the page's filters.
 */
function searchKeys(db: Database, text: string, q: PageQuery, wanted: readonly TaskStatus[], after: Key | null, newest: boolean): Key[] {
  const t = text.toLowerCase();
  const ids = db
    .query(`SELECT rowid AS r FROM tasks INDEXED BY sqlite_autoindex_tasks_1 WHERE instr(lower(id), ?) > 0 ORDER BY id DESC LIMIT ${SEARCH_CAP}`)
    .all(t) as { r: number }[];
  const byWorker = db
    .query("SELECT rowid AS r FROM tasks WHERE status IN ('requested','started') AND instr(lower(COALESCE(worker,'')), ?) > 0")
    .all(t) as { r: number }[];
  const seen = new Set<number>();
  const get = db.query("SELECT created_at AS c, stage, status FROM tasks WHERE rowid = ?");
  const out: Key[] = [];
  for (const { r } of [...ids, ...byWorker]) {
    if (seen.has(r)) continue;
    seen.add(r);
    const row = get.get(r) as { c: number; stage: string; status: TaskStatus } | null;
    if (!row || (q.stage && row.stage !== q.stage) || !wanted.includes(row.status)) continue;
    if (after && (newest ? row.c > after.c || (row.c === after.c && r >= after.r) : row.c < after.c || (row.c === after.c && r <= after.r))) continue;
    out.push({ c: row.c, r });
  }
  return out.sort((a, b) => (newest ? b.c - a.c || b.r - a.r : a.c - b.c || a.r - b.r));
}
