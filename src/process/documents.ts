import { hashFile } from "../core/hash-file.ts";
import type { FileTarget, Signature, StageErrors, UrlTarget } from "./plugin.ts";
import { identifyResultSchema, parseDoc, type IdentifyResult } from "./schemas.ts";
import { signatureLabels } from "./trackers.ts";

/**
 * The three stage documents, composed from a stage's results (see layout.ts for the keys).
 * The JSON dump reporter writes them as they are; the HTML report renders them.
 */
interface Produced {
  results: Record<string, unknown>;
  signatures: Signature[];
  score: number;
  errors: StageErrors;
}

/** The processor whose result is identification.json's top level. */
export const IDENTIFY_KEY = "identify";
/** The framework's own minimal identifier (plugins/identification/fallback.ts), used when `identify` is absent. */
export const FALLBACK_KEY = "fallback_identify";

function resultsExcept(results: Record<string, unknown>, skip: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(results)) if (k !== skip) out[k] = v;
  return out;
}

function signed(p: Produced): Record<string, unknown> {
  const { families, tags, ttps } = signatureLabels(p.signatures);
  return { score: p.score, signatures: p.signatures, families, tags, ttps };
}

/** What identification found when no `identify` processor ran: the submission's facts, plus the fallback's guess. */
export function deriveIdentification(target: FileTarget | UrlTarget, results: Record<string, unknown>): IdentifyResult {
  if (target.category === "url") return { identified: true, selected: true, category: "url", target: { url: target.url, platforms: [] }, ignored: [] };
  const fb = (results[FALLBACK_KEY] ?? null) as { filetype?: unknown; media_type?: unknown; platforms?: unknown } | null;
  // The hashes an `identify` processor would have computed.
  const h = target.md5 && target.sha1 && target.sha512 ? { md5: target.md5, sha1: target.sha1, sha512: target.sha512 } : hashFile(target.path, ["md5", "sha1", "sha512"] as const);
  const str = (v: unknown, d: string) => (typeof v === "string" && v ? v : d);
  return parseDoc(
    identifyResultSchema,
    {
      identified: Boolean(fb && typeof fb.filetype === "string"),
      selected: true,
      category: "file",
      target: {
        filename: target.filename,
        orig_filename: target.filename,
        size: target.size,
        filetype: str(fb?.filetype, "data"),
        media_type: str(fb?.media_type, "application/octet-stream"),
        extrpath: [],
        container: false,
        md5: h.md5,
        sha1: h.sha1,
        sha256: target.sha256,
        sha512: h.sha512,
        platforms: Array.isArray(fb?.platforms) ? fb!.platforms : [],
      },
      ignored: [],
    },
    "derived identification",
  );
}

export function identificationDocument(p: Produced, target: FileTarget | UrlTarget): Record<string, unknown> {
  const ident = IDENTIFY_KEY in p.results ? parseDoc(identifyResultSchema, p.results[IDENTIFY_KEY], `result of \`${IDENTIFY_KEY}\``) : deriveIdentification(target, p.results);
  if (ident.category !== target.category) throw new Error(`\`${IDENTIFY_KEY}\` says category ${ident.category}, but a ${target.category} was submitted`);
  return { ...ident, ...resultsExcept(p.results, IDENTIFY_KEY), ...signed(p), errors: p.errors };
}

export function preDocument(p: Produced, analysisId: string, ident: IdentifyResult): Record<string, unknown> {
  return { analysis_id: analysisId, category: ident.category, target: ident.target, ...signed(p), ...p.results, errors: p.errors };
}

export function postDocument(p: Produced, taskId: string): Record<string, unknown> {
  return { task_id: taskId, ...signed(p), ...p.results, errors: p.errors };
}
