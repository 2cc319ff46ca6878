export { freePort } from "../../src/core/free-port.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The binary under test: $FALC_BIN, or dist/falc built by scripts/setup. */
export const FALC = resolve(process.env.FALC_BIN ?? join(import.meta.dir, "../../dist/falc"));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run dist/falc to completion with a private FALC_HOME unless env says otherwise. */
export async function runFalc(args: string[], opts: { env?: Record<string, string>; stdin?: string; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const p = Bun.spawn([FALC, ...args], {
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    cwd: opts.cwd,
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A temporary FALC_HOME, removed by the returned cleanup. */
export function tempHome(prefix = "falc-e2e-"): { home: string; cleanup(): void } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}


export async function waitFor<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 20_000, intervalMs = 100, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}

/** A falc process started with its stderr collected as it comes, for waiting on its log lines. */
export interface WatchedFalc {
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything it has written to stderr so far. */
  stderr(): string;
}

/** Start `falc ARGS` (stdout ignored, NO_COLOR) and collect its stderr; the caller stops it. */
export function watchFalc(args: string[], env: Record<string, string>): WatchedFalc {
  const proc = Bun.spawn([FALC, ...args], { env: { ...process.env, NO_COLOR: "1", ...env }, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  let err = "";
  void (async () => {
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(c);
  })();
  return { proc, stderr: () => err };
}
