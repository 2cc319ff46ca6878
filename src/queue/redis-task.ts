import type { Task, TaskStatus } from "../core/task.ts";

const num = (v: string | undefined): number | null => (v === undefined || v === "" ? null : Number(v));

/** A job hash (HGETALL as a flat list or an object) → the Task every backend returns. */
export function hashToTask(raw: string[] | Record<string, string>): Task {
  let h: Record<string, string>;
  if (Array.isArray(raw)) {
    h = {};
    for (let i = 0; i < raw.length; i += 2) h[raw[i]!] = raw[i + 1]!;
  } else h = raw;
  return {
    id: h.id!,
    stage: h.name!,
    payload: JSON.parse(h.data ?? "null"),
    status: h.st as TaskStatus,
    attempts: Number(h.att ?? 0),
    maxAttempts: Number(h.max ?? 0),
    priority: Number(h.fpri ?? 0),
    createdAt: Number(h.timestamp),
    queuedAt: num(h.qa),
    requestedAt: num(h.ra),
    startedAt: num(h.sa),
    finishedAt: num(h.fa),
    runAt: Number(h.run),
    timeoutS: num(h.to),
    error: h.err ? JSON.parse(h.err) : null,
    result: h.returnvalue !== undefined ? JSON.parse(h.returnvalue) : null,
    parentId: h.par ?? null,
    worker: h.w ?? null,
    leaseUntil: num(h.lu),
    progress: num(h.pg),
    progressNote: h.pn ?? null,
    cancelRequested: h.cr === "1",
    token: Number(h.tok ?? 0),
    errors: h.errs ? JSON.parse(h.errs) : [],
  };
}
