import type { EvalResult } from "./types.ts";

/** Exit code for CI: 0 only when the code ran and exited 0. */
export function resultExitCode(r: EvalResult): number {
  return r.status === "completed" ? 0 : 1;
}

/** Human summary (stderr) after the program's own output (stdout). */
export function summaryLine(r: EvalResult): string {
  const parts = [`status=${r.status}`, `engine=${r.engine ?? "none"}`];
  if (r.exit_code !== null) parts.push(`exit=${r.exit_code}`);
  if (r.signal) parts.push(`signal=${r.signal}`);
  parts.push(`time=${r.duration_ms}ms`);
  if (r.cpu_ms !== null) parts.push(`cpu=${r.cpu_ms}ms`);
  if (r.max_rss_kb !== null) parts.push(`rss=${Math.round(r.max_rss_kb / 1024)}MB`);
  if (r.truncated.stdout || r.truncated.stderr) parts.push(`truncated=${[r.truncated.stdout && "stdout", r.truncated.stderr && "stderr"].filter(Boolean).join(",")}`);
  for (const f of r.fallbacks) parts.push(`skipped ${f.engine}: ${f.reason}`);
  for (const c of r.clamped ?? []) parts.push(`clamped ${c.field} ${c.asked}→${c.max}`);
  if (r.reason && r.status !== "completed" && r.status !== "failed") parts.push(`(${r.reason})`);
  return `falc eval: ${parts.join(" ")}`;
}
