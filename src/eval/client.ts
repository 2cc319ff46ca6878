import { unavailable } from "../core/errors.ts";
import type { EvalResult } from "./types.ts";
import type { EvalPayload } from "./payload.ts";

export interface NextTask {
  id: string;
  eval_id: string;
  code: string;
  language: string;
  engine: EvalPayload["engine"] | null;
  timeout: number | null;
  memory: number | null;
  limits: EvalPayload["limits"] | null;
  stdin: string | null;
  stdin_b64: string | null;
  attempt: number;
}

/** Talks to `falc eval serve` (or any service with the same API). Network and HTTP errors are `unavailable`. */
export class EvalServiceClient {
  constructor(readonly baseUrl: string, private apiKey?: string, private timeoutMs = 10_000) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let r: Response;
    try {
      r = await fetch(this.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw unavailable(`${method} ${this.baseUrl}${path}: ${(e as Error).message.split("\n")[0]}`);
    }
    const text = await r.text();
    if (!r.ok) {
      let msg = text;
      try { msg = (JSON.parse(text) as { error?: string }).error ?? text; } catch {}
      throw unavailable(`${method} ${path}: HTTP ${r.status}: ${msg.slice(0, 200)}`, { status: r.status });
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw unavailable(`${method} ${path}: the answer is not JSON`);
    }
  }

  submit(p: EvalPayload & { priority?: number }) { return this.call<{ id: string; eval_id: string; status: string }>("POST", "/tasks", p); }
  next(worker: string) { return this.call<NextTask | null>("GET", `/tasks/next?worker=${encodeURIComponent(worker)}`); }
  complete(id: string, worker: string, result: EvalResult) { return this.call<unknown>("POST", `/tasks/${encodeURIComponent(id)}/complete`, { worker, result }); }
  fail(id: string, worker: string, error: string, retry = true) { return this.call<unknown>("POST", `/tasks/${encodeURIComponent(id)}/fail`, { worker, error, retry }); }
  get(id: string) { return this.call<{ id: string; status: string; result: EvalResult | null; error: string | null }>("GET", `/tasks/${encodeURIComponent(id)}`); }
  status() { return this.call<{ tasks: Record<string, number> | null }>("GET", "/status"); }
  health() { return this.call<{ status: string }>("GET", "/health"); }
}
