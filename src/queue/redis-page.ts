import type Redis from "ioredis";
import { inputError } from "../core/errors.ts";
import { TASK_STATUSES, type Task, type TaskFilter, type TaskStatus } from "../core/task.ts";
import { hashToTask } from "./redis-task.ts";

export interface RedisPageQuery extends TaskFilter {
  after?: string | null;
  text?: string;
}

const SCAN_COUNT = 2000;
/** Matches a text search collects before it stops reading the id map. */
const TEXT_MATCH_CAP = 20_000;

function decode(s: string): number {
  if (!/^[0-9a-z]+$/.test(s)) throw inputError(`invalid page cursor \`${s}\`; pass the \`next\` value of the previous page`);
  return parseInt(s, 36);
}

/** Glob-escape text for HSCAN MATCH. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * One page by keyset over falc's per-stage, per-status indexes (score = creation order): one
 * ZREVRANGEBYSCORE … LIMIT per index, merged; then the page's hashes. A text search walks the id map
 * with HSCAN (every kept task) plus the running tasks' workers.
 */
export async function redisPage(r: Redis, q: RedisPageQuery): Promise<{ tasks: Task[]; next: string | null }> {
  const limit = Math.max(1, Math.min(q.limit ?? 50, 1_000_000));
  const newest = q.order !== "oldest";
  const after = q.after ? decode(q.after) : null;
  const statuses: readonly TaskStatus[] = q.status ? (Array.isArray(q.status) ? q.status : [q.status]) : TASK_STATUSES;
  let picked: { id: string; stage: string; ord: number }[] = [];
  const text = q.text?.trim().toLowerCase() || null;
  if (text || q.parentId) {
    let cands: { id: string; stage: string }[] = [];
    if (q.parentId) {
      const ids = (await r.zrange(`falc:_children:${q.parentId}`, "0", "-1")) as string[];
      const st = ids.length ? ((await r.hmget("falc:_t", ...ids)) as (string | null)[]) : [];
      cands = ids.flatMap((id, i) => (st[i] ? [{ id, stage: st[i]! }] : []));
      if (text) cands = cands.filter((c) => c.id.toLowerCase().includes(text));
    } else {
      let cursor = "0";
      do {
        const [c, flat] = (await r.hscan("falc:_t", cursor, "MATCH", `*${globEscape(text!)}*`, "COUNT", SCAN_COUNT)) as [string, string[]];
        cursor = c;
        for (let i = 0; i < flat.length; i += 2) cands.push({ id: flat[i]!, stage: flat[i + 1]! });
      } while (cursor !== "0" && cands.length < TEXT_MATCH_CAP);
      // Workers are named only on running tasks: the active lists are small.
      const stages = (await r.smembers("falc:_stages")) as string[];
      for (const stage of stages) {
        const ids = (await r.lrange(`falc:${stage}:active`, 0, -1)) as string[];
        if (!ids.length) continue;
        const pipe = r.pipeline();
        for (const id of ids) pipe.hget(`falc:${stage}:${id}`, "w");
        const ws = (await pipe.exec()) ?? [];
        ids.forEach((id, i) => {
          const w = ws[i]?.[1] as string | null;
          if (w && w.toLowerCase().includes(text!) && !cands.some((c) => c.id === id)) cands.push({ id, stage });
        });
      }
    }
    if (q.stage) cands = cands.filter((c) => c.stage === q.stage);
    const pipe = r.pipeline();
    for (const c of cands) pipe.hget(`falc:${c.stage}:${c.id}`, "ord");
    const ords = (await pipe.exec()) ?? [];
    picked = cands.flatMap((c, i) => (ords[i]?.[1] ? [{ ...c, ord: Number(ords[i]![1]) }] : []));
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
  for (let at = 0; at < picked.length; at += 500) {
    const part = picked.slice(at, at + 500);
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
