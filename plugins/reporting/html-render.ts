import { scoreLabel } from "../../src/process/score.ts";

/**
 * A self-contained HTML report: one file, inline CSS, no scripts, no external assets (a CSP meta
 * forbids loading anything), and every value from the analysis escaped: samples are hostile and
 * their strings, file names and URLs end up in here.
 */
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

const SPECIAL = /[&<>"'`]/;

export function esc(v: unknown): string {
  const s = String(v);
  // Most values (symbol names, hashes, numbers) have nothing to escape: one test, no replace.
  return SPECIAL.test(s) ? s.replace(/[&<>"'`]/g, (c) => ENTITIES[c]!) : s;
}

const MAX_ITEMS = 300;
const MAX_STRING = 4000;
const MAX_DEPTH = 8;

function str(s: string): string {
  if (s.length <= MAX_STRING) return esc(s);
  return `${esc(s.slice(0, MAX_STRING))}<span class="more"> … ${s.length - MAX_STRING} more characters</span>`;
}

/** A record whose values are all scalars or arrays of scalars (a table row). */
function isFlatObject(v: unknown): v is Record<string, unknown> {
  if (!v || typeof v !== "object" || Array.isArray(v)) return false;
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (x === null || typeof x !== "object") continue;
    if (!Array.isArray(x)) return false;
    for (const y of x) if (y !== null && typeof y === "object") return false;
  }
  return true;
}

function more(n: number): string {
  return n > 0 ? `<p class="more">… ${n} more not shown (see the JSON file)</p>` : "";
}

/**
 * Any JSON value as HTML: tables for lists of flat records, key/value tables for objects. Written
 * with loops and string appends (a report has thousands of cells: symbols, sections, strings).
 */
export function renderValue(v: unknown, depth = 0): string {
  if (v === null || v === undefined) return `<span class="null">null</span>`;
  if (typeof v === "string") return str(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (depth >= MAX_DEPTH) return `<pre>${str(JSON.stringify(v))}</pre>`;
  if (Array.isArray(v)) {
    if (!v.length) return `<span class="null">none</span>`;
    const n = Math.min(v.length, MAX_ITEMS);
    let scalars = true;
    let flat = true;
    for (let i = 0; i < n && (scalars || flat); i++) {
      const x = v[i];
      if (x !== null && typeof x === "object") {
        scalars = false;
        if (flat && !isFlatObject(x)) flat = false;
      } else flat = false;
    }
    let out: string;
    if (scalars) {
      out = `<ul class="flat">`;
      for (let i = 0; i < n; i++) out += `<li>${renderValue(v[i], depth + 1)}</li>`;
      out += `</ul>`;
    } else if (flat) {
      const seen = new Set<string>();
      const cols: string[] = [];
      for (let i = 0; i < n && cols.length < 16; i++) {
        for (const k of Object.keys(v[i] as object)) {
          if (seen.has(k)) continue;
          seen.add(k);
          cols.push(k);
          if (cols.length === 16) break;
        }
      }
      out = `<table class="list"><thead><tr>`;
      for (const c of cols) out += `<th>${esc(c)}</th>`;
      out += `</tr></thead><tbody>`;
      for (let i = 0; i < n; i++) {
        const row = v[i] as Record<string, unknown>;
        out += "<tr>";
        for (const c of cols) out += `<td>${renderValue(row[c], depth + 1)}</td>`;
        out += "</tr>";
      }
      out += `</tbody></table>`;
    } else {
      out = `<ol>`;
      for (let i = 0; i < n; i++) out += `<li>${renderValue(v[i], depth + 1)}</li>`;
      out += `</ol>`;
    }
    return out + more(v.length - n);
  }
  if (typeof v === "object") {
    const keys = Object.keys(v as object);
    if (!keys.length) return `<span class="null">empty</span>`;
    const n = Math.min(keys.length, MAX_ITEMS);
    let out = `<table class="kv">`;
    for (let i = 0; i < n; i++) out += `<tr><th>${esc(keys[i])}</th><td>${renderValue((v as Record<string, unknown>)[keys[i]!], depth + 1)}</td></tr>`;
    return out + `</table>` + more(keys.length - n);
  }
  return esc(String(v));
}

interface Sig {
  name?: unknown;
  short_description?: unknown;
  description?: unknown;
  score?: unknown;
  family?: unknown;
  tags?: unknown;
  ttps?: unknown;
  iocs?: unknown;
}

function scoreClass(score: number): string {
  return score >= 8 ? "bad" : score >= 6 ? "warn" : score >= 1 ? "info" : "none";
}

export function renderSignatures(sigs: unknown): string {
  const list = Array.isArray(sigs) ? (sigs as Sig[]) : [];
  if (!list.length) return `<p class="null">No signature triggered.</p>`;
  const rows = list
    .map((s) => {
      const score = Number(s.score) || 0;
      const labels = [s.family ? `family: ${s.family}` : "", ...(Array.isArray(s.tags) ? s.tags : []), ...(Array.isArray(s.ttps) ? s.ttps : [])].filter(Boolean);
      const iocs = Array.isArray(s.iocs) && s.iocs.length ? `<details><summary>${s.iocs.length} indicator(s)</summary>${renderValue(s.iocs)}</details>` : "";
      return `<tr><td><span class="score ${scoreClass(score)}">${esc(score)}</span></td><td><b>${esc(s.name ?? "")}</b><br>${esc(s.short_description ?? "")}${s.description ? `<p>${str(String(s.description))}</p>` : ""}${iocs}</td><td>${labels.map((l) => `<span class="tag">${esc(l)}</span>`).join(" ")}</td></tr>`;
    })
    .join("");
  return `<table class="list sigs"><thead><tr><th>score</th><th>signature</th><th>labels</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export function renderErrors(errors: unknown): string {
  const e = (errors ?? {}) as { errors?: unknown; fatal?: unknown };
  const list = Array.isArray(e.errors) ? e.errors : [];
  const fatal = Array.isArray(e.fatal) ? (e.fatal as { error?: unknown; traceback?: unknown }[]) : [];
  if (!list.length && !fatal.length) return "";
  const f = fatal.map((x) => `<div class="fatal"><b>fatal:</b> ${esc(x.error ?? "")}${x.traceback ? `<details><summary>traceback</summary><pre>${str(String(x.traceback))}</pre></details>` : ""}</div>`).join("");
  const l = list.length ? `<ul>${list.map((x) => `<li>${esc(x)}</li>`).join("")}</ul>` : "";
  return `<section><h2>Errors</h2>${f}${l}</section>`;
}

const TARGET_FIELDS = ["filename", "orig_filename", "url", "filetype", "media_type", "size", "md5", "sha1", "sha256", "sha512", "extrpath", "container", "platforms"];

export function renderTarget(target: unknown): string {
  const t = (target ?? {}) as Record<string, unknown>;
  const rows = TARGET_FIELDS.filter((k) => t[k] !== undefined && !(Array.isArray(t[k]) && !(t[k] as unknown[]).length)).map((k) => `<tr><th>${esc(k)}</th><td>${renderValue(t[k])}</td></tr>`);
  return `<table class="kv target">${rows.join("")}</table>`;
}

/** Document keys that have their own section (or are plumbing) rather than a generic one. */
const OWN_SECTION = new Set(["target", "signatures", "score", "errors", "category", "analysis_id", "task_id", "families", "tags", "ttps", "identified", "selected", "ignored", "platforms"]);

export function renderResults(doc: Record<string, unknown>): string {
  return Object.entries(doc)
    .filter(([k]) => !OWN_SECTION.has(k))
    .map(([k, v]) => `<details class="result" open><summary>${esc(k)}</summary>${renderValue(v)}</details>`)
    .join("");
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#f6f6f4}
header{background:#1f2933;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px;word-break:break-all}
header .meta{opacity:.8;font-size:13px}main{padding:8px 24px 40px;max-width:1200px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 16px;margin:14px 0}
h2{font-size:16px;margin:4px 0 10px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:3px 8px;border-bottom:1px solid #eee;word-break:break-word}
table.kv>tbody>tr>th,table.kv>tr>th{width:14em;color:#555;font-weight:600}table.list thead th{background:#f0f0ee}
.score{display:inline-block;min-width:2em;text-align:center;border-radius:4px;padding:1px 6px;font-weight:700;color:#fff}
.score.bad{background:#c0392b}.score.warn{background:#d68910}.score.info{background:#2e86c1}.score.none{background:#7f8c8d}
.big{font-size:28px}.tag{display:inline-block;background:#eef;border-radius:3px;padding:0 5px;margin:1px;font-size:12px}
.null,.more{color:#888;font-style:italic}pre{white-space:pre-wrap;word-break:break-all;background:#f7f7f7;padding:8px;font-size:12px}
details.result{border-top:1px solid #eee;padding:6px 0}details.result>summary{font-weight:600;cursor:pointer}
.fatal{background:#fdecea;border-left:4px solid #c0392b;padding:6px 10px;margin:6px 0}ul.flat{margin:0;padding-left:18px}
`;

export interface TaskLink {
  id: string;
  platform: string;
  os_version: string;
  state: string;
  score: number;
  /** Relative link to the task's report.html, when it has one. */
  href?: string;
}

export interface PageInput {
  title: string;
  subtitle: string;
  target: unknown;
  score: number;
  sections: { title: string; doc: Record<string, unknown> }[];
  /** The analysis page lists its tasks, each linking its own report. */
  tasks?: TaskLink[];
}

export function renderTasks(tasks: TaskLink[]): string {
  if (!tasks.length) return "";
  const rows = tasks
    .map((t) => `<tr><td>${t.href ? `<a href="${esc(t.href)}">${esc(t.id)}</a>` : esc(t.id)}</td><td>${esc(`${t.platform}${t.os_version ? ` ${t.os_version}` : ""}`)}</td><td>${esc(t.state)}</td><td><span class="score ${scoreClass(t.score)}">${esc(t.score)}</span></td></tr>`)
    .join("");
  return `<section><h2>Tasks</h2><table><tr><th>task</th><th>platform</th><th>state</th><th>score</th></tr>${rows}</table></section>`;
}

export function renderPage(p: PageInput): string {
  const body = p.sections
    .map(
      (s) =>
        `<section><h2>${esc(s.title)} — signatures</h2>${renderSignatures(s.doc.signatures)}</section>` +
        `<section><h2>${esc(s.title)} — results</h2>${renderResults(s.doc) || `<p class="null">No results.</p>`}</section>` +
        renderErrors(s.doc.errors),
    )
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(p.title)}</title><style>${CSS}</style></head>
<body><header><h1>${esc(p.title)}</h1><div class="meta">${esc(p.subtitle)}</div></header><main>
<section><h2>Score</h2><span class="score big ${scoreClass(p.score)}">${esc(p.score)}</span> ${esc(scoreLabel(p.score))}</section>
<section><h2>Target</h2>${renderTarget(p.target)}</section>
${p.tasks ? renderTasks(p.tasks) : ""}
${body}
</main></body></html>
`;
}
