import type { Task } from "../core/task.ts";
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
