import type Redis from "ioredis";
import { inputError } from "../core/errors.ts";
import { TASK_STATUSES, type Task, type TaskFilter, type TaskStatus } from "../core/task.ts";
import { hashToTask } from "./redis-task.ts";
import { idCompare, searchPage, type SearchSource } from "./search-page.ts";

export interface RedisPageQuery extends TaskFilter {
  after?: string | null;
  text?: string;
}

/** Ids the one-time index of ids (falc:_ids) reads per step from the id map when a queue predates it. */
const BACKFILL_COUNT = 2000;

function decode(s: string): number {
  if (!/^[0-9a-z]+$/.test(s)) throw inputError(`invalid page cursor \`${s}\`; pass the \`next\` value of the previous page`);
  return parseInt(s, 36);
}


/**
 * One page by keyset over falc's per-stage, per-status indexes (score = creation order): one
 * ZREVRANGEBYSCORE … LIMIT per index, merged; then the page's hashes. A text search is searchPage's, over
 * falc:_ids (every kept id in one sorted set, read by ZRANGEBYLEX) and the running tasks' workers.
 */
export async function redisPage(r: Redis, q: RedisPageQuery): Promise<{ tasks: Task[]; next: string | null }> {
  const limit = Math.max(1, Math.min(q.limit ?? 50, 1_000_000));
  const newest = q.order !== "oldest";
  if (q.text?.trim()) return searchPage(await redisSearchSource(r), { ...q, text: q.text });
  const after = q.after ? decode(q.after) : null;
  const statuses: readonly TaskStatus[] = q.status ? (Array.isArray(q.status) ? q.status : [q.status]) : TASK_STATUSES;
  let picked: { id: string; stage: string; ord: number }[] = [];
  if (q.parentId) {
    // Children of one task are few; their set is scored by creation order like the status indexes.
    const flat = (await r.zrange(`falc:_children:${q.parentId}`, "0", "-1", "WITHSCORES")) as string[];
    const ids = flat.filter((_, i) => i % 2 === 0);
    const st = ids.length ? ((await r.hmget("falc:_t", ...ids)) as (string | null)[]) : [];
    picked = ids.flatMap((id, i) => (st[i] && (!q.stage || st[i] === q.stage) ? [{ id, stage: st[i]!, ord: Number(flat[2 * i + 1]) }] : []));
    if (after !== null) picked = picked.filter((p) => (newest ? p.ord < after : p.ord > after));
  } else {
    const stages = q.stage ? [q.stage] : ((await r.smembers("falc:_stages")) as string[]);
    const keys = stages.flatMap((stage) => statuses.map((st) => ({ stage, key: `falc:_x:${stage}:${st}` })));
    const pipe = r.pipeline();
    for (const k of keys) {
      if (newest) pipe.zrevrangebyscore(k.key, after !== null ? `(${after}` : "+inf", "-inf", "WITHSCORES", "LIMIT", 0, limit + 1);
      else pipe.zrangebyscore(k.key, after !== null ? `(${after}` : "-inf", "+inf", "WITHSCORES", "LIMIT", 0, limit + 1);
    }
    const res = keys.length ? ((await pipe.exec()) ?? []) : [];
    res.forEach(([err, flat], i) => {
      if (err) throw err;
      const f = flat as string[];
      for (let j = 0; j < f.length; j += 2) picked.push({ id: f[j]!, ord: Number(f[j + 1]), stage: keys[i]!.stage });
    });
  }
  picked.sort((a, b) => (newest ? b.ord - a.ord : a.ord - b.ord));
  const wanted = new Set(statuses);
  const tasks: Task[] = [];
  let last: number | null = null;
  let more = false;
  // A task can move between reading the index and reading its hash: filter again on what was read.
  // Hashes only as many as the page needs (and one more to know there is a next), more if some moved meanwhile.
  for (let at = 0, n = 0; at < picked.length; at += n) {
    n = Math.min(500, limit + 1 - tasks.length);
    const part = picked.slice(at, at + n);
    const pipe = r.pipeline();
    for (const p of part) pipe.hgetall(`falc:${p.stage}:${p.id}`);
    const rows = (await pipe.exec()) ?? [];
    for (let i = 0; i < rows.length; i++) {
      const [err, h] = rows[i]!;
      if (err || !h || !Object.keys(h as object).length) continue;
      const t = hashToTask(h as Record<string, string>);
      if (!wanted.has(t.status)) continue;
      if (tasks.length >= limit) {
        more = true;
        break;
      }
      tasks.push(t);
      last = part[i]!.ord;
    }
    if (more) break;
  }
  return { tasks, next: more && last !== null ? last.toString(36) : null };
}

/**
 * falc:_ids is kept by enqueue and prune. A queue written before it existed gets it filled once, here, in
 * atomic steps (each adds only ids still in falc:_t, so a task pruned meanwhile is never added back);
 * falc:_ids_ok marks it complete.
 */
async function ensureIdIndex(r: Redis): Promise<void> {
  if (await r.exists("falc:_ids_ok")) return;
  let cursor = "0";
  do {
    cursor = String(await r.eval(BACKFILL_LUA, 0, cursor, BACKFILL_COUNT));
  } while (cursor !== "0");
  await r.set("falc:_ids_ok", "1");
}

const BACKFILL_LUA = `
local res = redis.call('HSCAN', 'falc:_t', ARGV[1], 'COUNT', ARGV[2])
local flat = res[2]
for i = 1, #flat, 2 do redis.call('ZADD', 'falc:_ids', 0, flat[i]) end
return res[1]
`;

/** Per id: stage, status, parent ('' when absent), from falc:_t and the job hash. */
const HEADS_LUA = `
local out = {}
for i, id in ipairs(ARGV) do
  local stage = redis.call('HGET', 'falc:_t', id)
  local h = stage and redis.call('HMGET', 'falc:' .. stage .. ':' .. id, 'st', 'par') or {}
  out[3 * i - 2] = stage or ''
  out[3 * i - 1] = h[1] or ''
  out[3 * i] = h[2] or ''
end
return out
`;

const MAX_BYTE = Buffer.from([0xff]);
const lex = (mark: "[" | "(", s: string, top = false) => Buffer.concat([Buffer.from(mark + s, "utf8"), ...(top ? [MAX_BYTE] : [])]);

async function redisSearchSource(r: Redis): Promise<SearchSource> {
  await ensureIdIndex(r);
  return {
    async idsWithPrefix(prefix, after, newest, n) {
      // [prefix .. [prefix\xff holds every id with the prefix; a cursor from another search may lie outside it.
      const inside = after !== null && after.startsWith(prefix);
      if (after !== null && !inside && (newest ? idCompare(after, prefix) < 0 : idCompare(after, prefix) > 0)) return [];
      if (newest) return (await r.zrevrangebylex("falc:_ids", inside ? lex("(", after!) : lex("[", prefix, true), lex("[", prefix), "LIMIT", 0, n)) as string[];
      return (await r.zrangebylex("falc:_ids", inside ? lex("(", after!) : lex("[", prefix), lex("[", prefix, true), "LIMIT", 0, n)) as string[];
    },
    async tasks(ids) {
      const stages = (await r.hmget("falc:_t", ...ids)) as (string | null)[];
      const pipe = r.pipeline();
      ids.forEach((id, i) => pipe.hgetall(`falc:${stages[i] ?? "_none"}:${id}`));
      const rows = (await pipe.exec()) ?? [];
      return rows.map(([err, h]) => (err || !h || !Object.keys(h as object).length ? null : hashToTask(h as Record<string, string>)));
    },
    async heads(ids) {
      // One script for the lot: a filter often reads thousands of ids, and per-id replies cost more than the lookups.
      const flat = (await r.eval(HEADS_LUA, 0, ...ids)) as (string | false | null)[];
      return ids.map((_, i) => {
        const [stage, st, par] = [flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]];
        return stage && st ? { stage, status: st as TaskStatus, parentId: par || null } : null;
      });
    },
    async runningWithWorker(text) {
      // Workers are named only on running tasks: the active lists are small.
      const out: Task[] = [];
      for (const stage of (await r.smembers("falc:_stages")) as string[]) {
        const ids = (await r.lrange(`falc:${stage}:active`, 0, -1)) as string[];
        if (!ids.length) continue;
        const pipe = r.pipeline();
        for (const id of ids) pipe.hgetall(`falc:${stage}:${id}`);
        for (const [err, h] of (await pipe.exec()) ?? []) {
          if (err || !h || !Object.keys(h as object).length) continue;
          const t = hashToTask(h as Record<string, string>);
          if (t.worker && t.worker.toLowerCase().includes(text)) out.push(t);
        }
      }
      return out;
    },
  };
}
