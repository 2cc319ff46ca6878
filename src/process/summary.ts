import { existsSync } from "node:fs";
import { analysisPaths, taskPaths } from "./layout.ts";
import type { Signature } from "./plugin.ts";
import type { AnalysisDoc, StageErrorsDoc, TaskDoc } from "./schemas.ts";
import { scoreLabel } from "./score.ts";
import { ANALYSIS_HUMAN, TASK_HUMAN, type AnalysisState, type TaskState } from "./states.ts";
import { type Store, readAnalysis, readStageDoc, readTask } from "./storage.ts";

/** What `falc process` and `falc process show` print: one analysis in a page, or as JSON for scripts. */
export interface AnalysisSummary {
  analysis_id: string;
  state: AnalysisState;
  state_human: string;
  category: "file" | "url";
  created_on: string;
  target: Record<string, unknown>;
  /** From identification (absent before it ran): whether a target was recognised and chosen, and what was left out and why. */
  identified?: boolean;
  selected?: boolean;
  ignored: { filename: string; reason: string }[];
  score: number;
  score_label: string;
  signatures: (Pick<Signature, "name" | "short_description" | "score" | "family"> & { stage: string })[];
  families: string[];
  tags: string[];
  tasks: { id: string; platform: string; os_version: string; state: TaskState; state_human: string; score: number; report_html: string | null; errors: StageErrorsDoc }[];
  errors: StageErrorsDoc;
  paths: { dir: string; report_html: string | null };
}

const TARGET_KEYS = ["filename", "url", "filetype", "media_type", "size", "md5", "sha1", "sha256", "sha512", "extrpath", "container", "platforms"];

function pickTarget(t: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of TARGET_KEYS) if (t && t[k] !== undefined) out[k] = t[k];
  return out;
}

function sigsOf(doc: Record<string, unknown> | null, stage: string): AnalysisSummary["signatures"] {
  const list = Array.isArray(doc?.signatures) ? (doc!.signatures as Signature[]) : [];
  return list.map((s) => ({ name: s.name, short_description: s.short_description, score: s.score, ...(s.family ? { family: s.family } : {}), stage }));
}

/**
 * What this process wrote for an analysis it just ran (processLocally): the summary is made from it
 * instead of reading and parsing the files back (pre.json can be megabytes).
 */
export interface KnownDocs {
  analysis: AnalysisDoc;
  ident: Record<string, unknown> | null;
  pre: Record<string, unknown> | null;
  tasks: TaskDoc[];
}

export function summarize(store: Store, id: string, known?: KnownDocs): AnalysisSummary {
  const a = known?.analysis ?? readAnalysis(store, id);
  const paths = analysisPaths(store, id);
  const ident = known ? known.ident : readStageDoc(store, paths.identificationJson);
  const pre = known ? known.pre : readStageDoc(store, paths.preJson);
  const target = pickTarget((Object.keys(a.target).length ? a.target : (ident?.target as Record<string, unknown> | undefined)) ?? undefined);
  if (!Object.keys(target).length) {
    const s = a.submitted as Record<string, unknown>;
    Object.assign(target, pickTarget({ ...s, filetype: s.type || undefined, media_type: s.media_type || undefined }));
  }
  const signatures = [...sigsOf(ident, "identification"), ...sigsOf(pre, "pre")];
  const tasks = a.tasks.map((entry) => {
    const tp = taskPaths(store, entry.id);
    const task = known ? (known.tasks.find((t) => t.id === entry.id) ?? null) : existsSync(tp.taskJson) ? readTask(store, entry.id) : null;
    // A task this process just created has no report yet.
    if (!known) signatures.push(...sigsOf(readStageDoc(store, tp.reportJson), entry.id));
    return {
      id: entry.id,
      platform: entry.platform,
      os_version: entry.os_version,
      state: task?.state ?? entry.state,
      state_human: TASK_HUMAN[task?.state ?? entry.state],
      score: task?.score ?? entry.score,
      report_html: existsSync(tp.reportHtml) ? tp.reportHtml : null,
      errors: task?.errors ?? { errors: [], fatal: [] },
    };
  });
  signatures.sort((x, y) => y.score - x.score || x.name.localeCompare(y.name));
  return {
    analysis_id: a.id,
    state: a.state,
    state_human: ANALYSIS_HUMAN[a.state],
    category: a.category,
    created_on: a.created_on,
    target,
    ...(ident ? { identified: ident.identified === true, selected: ident.selected === true } : {}),
    ignored: Array.isArray(ident?.ignored) ? (ident!.ignored as { filename?: unknown; reason?: unknown }[]).map((i) => ({ filename: String(i.filename ?? ""), reason: String(i.reason ?? "") })) : [],
    score: a.score,
    score_label: scoreLabel(a.score),
    signatures,
    families: a.families,
    tags: a.tags,
    tasks,
    errors: a.errors,
    paths: { dir: paths.dir, report_html: existsSync(paths.reportHtml) ? paths.reportHtml : null },
  };
}

function size(n: unknown): string {
  const v = Number(n);
  if (!Number.isFinite(v)) return "-";
  return v < 1024 ? `${v} bytes` : v < 1 << 20 ? `${(v / 1024).toFixed(1)} KiB (${v} bytes)` : `${(v / (1 << 20)).toFixed(1)} MiB (${v} bytes)`;
}

/** The human page: type, hashes, score, top signatures, tasks, and errors as one line each (no tracebacks). */
export function formatSummary(s: AnalysisSummary, opts: { top?: number } = {}): string {
  const top = opts.top ?? 10;
  const t = s.target;
  const lines: string[] = [];
  const row = (k: string, v: unknown) => v !== undefined && v !== "" && lines.push(`${k.padEnd(11)}${String(v)}`);
  row("analysis", `${s.analysis_id}  ${s.state_human.toLowerCase()} (${s.state})`);
  row("target", t.filename ?? t.url);
  row("type", t.filetype !== undefined ? `${t.filetype}${t.media_type ? `  (${t.media_type})` : ""}` : undefined);
  if (Array.isArray(t.extrpath) && t.extrpath.length) row("in archive", (t.extrpath as string[]).join(" → "));
  if (t.size !== undefined) row("size", size(t.size));
  for (const h of ["md5", "sha1", "sha256", "sha512"]) row(h, t[h]);
  if (Array.isArray(t.platforms) && t.platforms.length) row("platforms", (t.platforms as { platform: string; os_version?: string }[]).map((p) => `${p.platform}${p.os_version ? ` ${p.os_version}` : ""}`).join(", "));
  // A container nothing could be taken from (a wrong password, say) goes on as it is: say so and why.
  if (s.identified === false) row("identified", "no: nothing inside was recognised or could be opened; the file itself goes on");
  for (const i of s.ignored.slice(0, top)) row("ignored", i.reason.startsWith(i.filename) ? i.reason : `${i.filename}: ${i.reason}`);
  if (s.ignored.length > top) row("ignored", `… ${s.ignored.length - top} more (falc process show ${s.analysis_id} --json)`);
  row("score", `${s.score} (${s.score_label})`);
  if (s.families.length) row("families", s.families.join(", "));
  if (s.signatures.length) {
    lines.push(`signatures (${s.signatures.length}${s.signatures.length > top ? `, top ${top}` : ""})`);
    for (const sig of s.signatures.slice(0, top)) lines.push(`  ${String(sig.score).padStart(2)}  ${sig.name}  ${sig.short_description}${sig.stage !== "pre" ? `  [${sig.stage}]` : ""}`);
  } else row("signatures", "none");
  for (const task of s.tasks) row(`task ${task.id.slice(task.id.lastIndexOf("_") + 1)}`, `${task.id}  ${task.platform}${task.os_version ? ` ${task.os_version}` : ""}  ${task.state}  score ${task.score}`);
  const fatal = [...s.errors.fatal.map((f) => f.error), ...s.tasks.flatMap((t) => t.errors.fatal.map((f) => `${t.id}: ${f.error}`))];
  for (const f of fatal) lines.push(`fatal      ${f}`);
  const nonFatal = s.errors.errors.length + s.tasks.reduce((n, t) => n + t.errors.errors.length, 0);
  if (nonFatal) row("errors", `${nonFatal} non-fatal (falc process show ${s.analysis_id} --json)`);
  if (fatal.length) lines.push(`           tracebacks: falc process show ${s.analysis_id} --json`);
  row("report", s.paths.report_html ?? undefined);
  row("directory", s.paths.dir);
  return lines.join("\n");
}
