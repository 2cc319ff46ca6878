import { FalcError, unavailable, workFailed } from "../core/errors.ts";
import { runProgram } from "../core/run-program.ts";

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
 * Run nmap with an argv array (never a shell) through the one program runner. nmap stays in
 * falc's process group: whoever stops falc's group (a worker handler stopping its child, with any
 * signal) stops nmap with it, so no nmap outlives the task it belonged to. A cancel or a timeout
 * stops it alone: TERM, then KILL after a grace.
 */
export async function runNmap(argv: string[], opts: NmapRunOptions): Promise<NmapRun & { stopped?: "timeout" | "cancel" }> {
  const bin = opts.bin ?? "nmap";
  if (opts.signal?.aborted) throw opts.signal.reason instanceof FalcError ? opts.signal.reason : workFailed("cancelled");
  let r;
  try {
    r = await runProgram([bin, ...argv], {
      sameGroup: true,
      signal: opts.signal,
      timeoutMs: opts.timeoutS * 1000,
      killGraceMs: opts.killGraceMs ?? 500,
      onStdoutLine: (line) => {
        opts.onLine?.(line);
        const st = parseStatsLine(line);
        if (st) opts.onProgress?.(st.fraction, st.note);
      },
    });
  } catch (e) {
    throw unavailable(`cannot run ${bin}: ${(e as Error).message.replace(/^cannot run \S+: /, "")} (is nmap installed?)`);
  }
  const stopped = r.cancelled ? "cancel" : r.timedOut ? "timeout" : undefined;
  return { code: stopped ? null : r.exitCode, stdout: r.stdout, stderr: r.stderr, ms: r.durationMs, ...(stopped ? { stopped } : {}) };
}
