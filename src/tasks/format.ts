import type { Task, TaskEvent } from "../core/task.ts";
import { ago, table } from "../cli/table.ts";

export function tasksTable(tasks: Task[]): string {
  if (!tasks.length) return "no tasks";
  return table(
    ["ID", "STAGE", "STATUS", "ATTEMPTS", "PRIO", "CREATED", "PROGRESS", "ERROR"],
    tasks.map((t) => [
      t.id,
      t.stage,
      t.status,
      `${t.attempts}/${t.maxAttempts}`,
      t.priority,
      ago(t.createdAt),
      t.progress === null ? "-" : `${Math.round(t.progress * 100)}%`,
      t.error && t.status !== "finished" ? t.error.message.slice(0, 60) : "",
    ]),
  );
}

export function taskDetail(t: Task): string {
  const ts = (ms: number | null) => (ms ? new Date(ms).toISOString() : "-");
  const lines = [
    `id:          ${t.id}`,
    `stage:       ${t.stage}`,
    `status:      ${t.status}${t.cancelRequested ? " (cancel requested while running)" : ""}`,
    `attempts:    ${t.attempts}/${t.maxAttempts}`,
    `priority:    ${t.priority}`,
    `created:     ${ts(t.createdAt)}`,
    `queued:      ${ts(t.queuedAt)}`,
    `requested:   ${ts(t.requestedAt)}`,
    `started:     ${ts(t.startedAt)}`,
    `finished:    ${ts(t.finishedAt)}`,
    `worker:      ${t.worker ?? "-"}`,
    `parent:      ${t.parentId ?? "-"}`,
    `payload:     ${JSON.stringify(t.payload)}`,
  ];
  if (t.progress !== null) lines.push(`progress:    ${Math.round(t.progress * 100)}% ${t.progressNote ?? ""}`);
  if (t.error) lines.push(`error:       ${t.error.message}`);
  if (t.result !== null) lines.push(`result:      ${JSON.stringify(t.result)}`);
  return lines.join("\n");
}

export interface TimelineRow {
  at: number;
  event: string;
  state: string;
  worker: string | null;
  attempt: number | null;
  /** The attempt's error where the event ends one; otherwise why it happened (released, retry, …), or null. */
  note: string | null;
}

/**
 * A task's history as rows: each event with the attempt it belongs to (counted from its `requested` events) and
 * the error that ended an attempt (from the task's per-attempt errors, which outlive a trimmed event log).
 */
export function timeline(t: Task, events: TaskEvent[]): TimelineRow[] {
  let attempt: number | null = null;
  return events.map((e) => {
    const d = (e.data ?? {}) as Record<string, unknown>;
    if (e.type === "requested") attempt = typeof d.attempt === "number" ? d.attempt : (attempt ?? 0) + 1;
    const err = t.errors.find((x) => x.attempt === attempt);
    let note: string | null = null;
    if (e.type === "retry_scheduled" || e.type === "failed" || e.type === "lease_expired") note = err?.message ?? (typeof d.error === "string" ? d.error : null);
    else if (e.type === "queued" && typeof d.reason === "string") note = d.reason;
    else if (e.type === "progress" && typeof d.fraction === "number") note = `${Math.round(d.fraction * 100)}%${d.note ? ` ${d.note}` : ""}`;
    const row: TimelineRow = { at: e.at, event: e.type, state: e.status, worker: e.worker ?? null, attempt: e.type === "created" || (e.type === "queued" && attempt === null) ? null : attempt, note };
    return row;
  });
}

export function timelineTable(rows: TimelineRow[]): string {
  if (!rows.length) return "no events (the event log was trimmed)";
  return table(
    ["TIME", "EVENT", "STATE", "WORKER", "ATTEMPT", "ERROR / NOTE"],
    rows.map((r) => [new Date(r.at).toISOString(), r.event, r.state, r.worker ?? "-", r.attempt ?? "-", r.note ?? ""]),
  );
}
