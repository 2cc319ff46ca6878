import { FalcError, unavailable, workFailed } from "../core/errors.ts";

export interface NmapRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface NmapRunOptions {
  /** The nmap binary (scan.nmap in falc.yaml); default "nmap" on PATH. */
  bin?: string;
  timeoutS: number;
  signal?: AbortSignal;
  /** Fraction 0..1 from nmap's `--stats-every` lines. */
  onProgress?(fraction: number, note: string): void;
  /** Grace between TERM and KILL of nmap's process group. */
  killGraceMs?: number;
  /** Every stdout line as it arrives (e.g. `-v`'s "Discovered open port" lines). */
  onLine?(line: string): void;
}

const STATS = /About ([\d.]+)% done/;

// "Discovered open port 80/tcp on 10.0.0.5", or "... on name.example (10.0.0.5)" when names are resolved.
const DISCOVERED = /^Discovered open port (\d+)\/(tcp|udp|sctp) on (?:\S+ \()?([0-9A-Fa-f.:]+)\)?\s*$/;

/** A port nmap announces (with `-v`) the moment it finds it open, and on which address; or null. */
export function parseDiscoveredLine(line: string): { proto: "tcp" | "udp" | "sctp"; port: number; ip: string } | null {
  const m = DISCOVERED.exec(line);
  return m ? { proto: m[2] as "tcp" | "udp" | "sctp", port: Number(m[1]), ip: m[3]! } : null;
}

/** Pull the latest progress figure from nmap's stats output, or null. */
export function parseStatsLine(line: string): { fraction: number; note: string } | null {
  const m = STATS.exec(line);
  if (!m) return null;
  const f = Math.max(0, Math.min(1, Number(m[1]) / 100));
  const phase = /^(.*?) Timing:/.exec(line)?.[1]?.trim() ?? "";
  return { fraction: f, note: phase };
}

/**
 * Run nmap with an argv array (never a shell) in its own process group, so a cancel or a
 * timeout can stop it and anything it spawned: TERM to the group, then KILL after a grace.
 */
export async function runNmap(argv: string[], opts: NmapRunOptions): Promise<NmapRun> {
  const bin = opts.bin ?? "nmap";
  if (opts.signal?.aborted) throw opts.signal.reason instanceof FalcError ? opts.signal.reason : workFailed("cancelled");
  const t0 = Date.now();
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn([bin, ...argv], { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  } catch (e) {
    throw unavailable(`cannot run ${bin}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (is nmap installed?)`);
  }
  let why: "timeout" | "cancel" | null = null;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = (reason: "timeout" | "cancel") => {
    if (why || proc.exitCode !== null) return;
    why = reason;
    try { process.kill(-proc.pid, "SIGTERM"); } catch {}
    killTimer = setTimeout(() => { try { process.kill(-proc.pid, "SIGKILL"); } catch {} }, opts.killGraceMs ?? 500);
  };
  const onAbort = () => stop("cancel");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => stop("timeout"), opts.timeoutS * 1000);

  let stdout = "";
  const readOut = (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      const s = dec.decode(chunk, { stream: true });
      stdout += s;
      buf += s;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        opts.onLine?.(line);
        const st = parseStatsLine(line);
        if (st) opts.onProgress?.(st.fraction, st.note);
      }
    }
  })();
  const stderrP = new Response(proc.stderr as ReadableStream).text();
  const code = await proc.exited;
  clearTimeout(timer);
  clearTimeout(killTimer);
  opts.signal?.removeEventListener("abort", onAbort);
  // Make sure nothing of the group is left behind.
  try { process.kill(-proc.pid, "SIGKILL"); } catch {}
  await readOut.catch(() => {});
  const stderr = await stderrP.catch(() => "");
  return { code: why ? null : code, stdout, stderr, ms: Date.now() - t0, ...(why ? { stopped: why } : {}) } as NmapRun & { stopped?: "timeout" | "cancel" };
}
