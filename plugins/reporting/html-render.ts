import { scoreLabel } from "../../src/process/score.ts";

/**
 * A self-contained HTML report: one file, inline CSS, no scripts, no external assets (a CSP meta
 * forbids loading anything), and every value from the analysis escaped: samples are hostile and
 * their strings, file names and URLs end up in here.
 */
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

export function esc(v: unknown): string {
  return String(v).replace(/[&<>"'`]/g, (c) => ENTITIES[c]!);
}

const MAX_ITEMS = 300;
const MAX_STRING = 4000;
const MAX_DEPTH = 8;

function str(s: string): string {
  if (s.length <= MAX_STRING) return esc(s);
  return `${esc(s.slice(0, MAX_STRING))}<span class="more"> … ${s.length - MAX_STRING} more characters</span>`;
}

function isFlatObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => x === null || typeof x !== "object" || (Array.isArray(x) && x.every((y) => y === null || typeof y !== "object")));
}

function more(n: number): string {
  return n > 0 ? `<p class="more">… ${n} more not shown (see the JSON file)</p>` : "";
}

/** Any JSON value as HTML: tables for lists of flat records, key/value tables for objects. */
export function renderValue(v: unknown, depth = 0): string {
  if (v === null || v === undefined) return `<span class="null">null</span>`;
  if (typeof v === "string") return str(v);
  if (typeof v === "number" || typeof v === "boolean") return esc(v);
  if (depth >= MAX_DEPTH) return `<pre>${str(JSON.stringify(v))}</pre>`;
  if (Array.isArray(v)) {
    if (!v.length) return `<span class="null">none</span>`;
    const shown = v.slice(0, MAX_ITEMS);
    if (shown.every((x) => x === null || typeof x !== "object")) return `<ul class="flat">${shown.map((x) => `<li>${renderValue(x, depth + 1)}</li>`).join("")}</ul>${more(v.length - shown.length)}`;
    if (shown.every(isFlatObject)) {
      const cols = [...new Set(shown.flatMap((x) => Object.keys(x)))].slice(0, 16);
      const head = cols.map((c) => `<th>${esc(c)}</th>`).join("");
      const rows = shown.map((x) => `<tr>${cols.map((c) => `<td>${renderValue((x as Record<string, unknown>)[c], depth + 1)}</td>`).join("")}</tr>`).join("");
      return `<table class="list"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>${more(v.length - shown.length)}`;
    }
    return `<ol>${shown.map((x) => `<li>${renderValue(x, depth + 1)}</li>`).join("")}</ol>${more(v.length - shown.length)}`;
  }
  if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>);
    if (!entries.length) return `<span class="null">empty</span>`;
    const shown = entries.slice(0, MAX_ITEMS);
    return `<table class="kv">${shown.map(([k, x]) => `<tr><th>${esc(k)}</th><td>${renderValue(x, depth + 1)}</td></tr>`).join("")}</table>${more(entries.length - shown.length)}`;
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

export interface PageInput {
  title: string;
  subtitle: string;
  target: unknown;
  score: number;
  sections: { title: string; doc: Record<string, unknown> }[];
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
${body}
</main></body></html>
`;
}
