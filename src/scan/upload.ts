import { abortableSleep } from "../core/stage.ts";
import { inputError, unavailable, workFailed } from "../core/errors.ts";
import type { ImportMode } from "./ledger.ts";

export interface UploadOptions {
  url: string;
  token: string;
  project: string;
  mode: ImportMode;
  xml: string;
  retries?: number;
  backoffMs?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * POST the merged nmap XML to a ScanLedger-compatible API: `POST {url}/projects/{id}/ips/import?mode=`,
 * multipart field `file`, bearer token. Network errors, 429 and 5xx are retried with backoff; other 4xx fail at once.
 */
export async function uploadXml(o: UploadOptions): Promise<{ status: number; attempts: number; body: string }> {
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    throw inputError(`--upload must be an http(s) URL, got \`${o.url.slice(0, 100)}\``);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") throw inputError(`--upload must be an http(s) URL, got \`${base.protocol}\``);
  const target = new URL(`${base.pathname.replace(/\/$/, "")}/projects/${encodeURIComponent(o.project)}/ips/import`, base);
  target.searchParams.set("mode", o.mode);
  const retries = o.retries ?? 3;
  let last = "";
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    const form = new FormData();
    form.append("file", new Blob([o.xml], { type: "application/xml" }), "falc-scan.xml");
    try {
      const res = await fetch(target, {
        method: "POST",
        headers: { authorization: `Bearer ${o.token}`, accept: "application/json" },
        body: form,
        signal: o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs ?? 30_000)]) : AbortSignal.timeout(o.timeoutMs ?? 30_000),
      });
      const body = await res.text();
      if (res.ok) return { status: res.status, attempts: attempt, body };
      last = `HTTP ${res.status}${body ? `: ${body.slice(0, 200).replace(/\s+/g, " ")}` : ""}`;
      if (res.status !== 429 && res.status < 500) throw workFailed(`upload to ${target.origin} refused: ${last}`);
    } catch (e) {
      if ((e as { code?: string }).code === "work_failed") throw e;
      if (o.signal?.aborted) throw workFailed("upload cancelled");
      last = (e as Error).message;
    }
    if (attempt <= retries) await abortableSleep((o.backoffMs ?? 500) * 2 ** (attempt - 1), o.signal);
  }
  throw unavailable(`upload to ${target.origin} failed after ${retries + 1} attempts: ${last}`);
}
