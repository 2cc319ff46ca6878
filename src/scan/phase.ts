import { existsSync, readFileSync } from "node:fs";
import { runNmap } from "./nmap.ts";
import { parseNmapXml, type ScanReport } from "./xml.ts";

export type PhaseName = "discovery" | "service";

export interface PhaseRecord {
  phase: PhaseName;
  status: "done" | "skipped" | "cancelled" | "timeout" | "failed";
  ms: number;
  argv: string[];
  open?: number;
  error?: string;
  /** Every nmap run of the phase when there were several (service scans started as ports were found). */
  runs?: string[][];
}

/** One nmap run of a phase: its record, and its report when it finished well, else why not. */
export interface PhaseOutcome {
  rec: PhaseRecord;
  report?: ScanReport;
  msg?: string;
  /** nmap's last stderr line when it said something (why a target was skipped, say). */
  stderr?: string;
  startedAt: number;
  endedAt: number;
}

export interface NmapPhaseOptions {
  name: PhaseName;
  argv: string[];
  /** The XML file the argv writes (`-oX`). */
  xml: string;
  timeoutS: number;
  /** The phase's timeout to name when this run had only what was left of it. */
  phaseTimeoutS?: number;
  /** Who is scanned, for messages ("10.0.0.5"). */
  label: string;
  signal: AbortSignal;
  nmapBin?: string;
  /** Wait for a slot before starting nmap; returns the release. */
  gate?(phase: PhaseName): Promise<() => void>;
  onFraction?(fraction: number, note: string): void;
  onLine?(line: string): void;
}

/** Run one nmap of a phase and read its XML; a stop or failure is an outcome, never a throw. */
export async function runNmapPhase(o: NmapPhaseOptions): Promise<PhaseOutcome> {
  const release = o.gate ? await o.gate(o.name) : () => {};
  const startedAt = Date.now();
  const rec: PhaseRecord = { phase: o.name, status: "done", ms: 0, argv: o.argv };
  const out = (p: Partial<PhaseRecord>, msg?: string): PhaseOutcome => ({ rec: { ...rec, ms: Date.now() - startedAt, ...p }, msg, startedAt, endedAt: Date.now() });
  let r: Awaited<ReturnType<typeof runNmap>> & { stopped?: "timeout" | "cancel" };
  try {
    if (o.signal.aborted) return out({ status: "cancelled" }, `cancelled during ${o.name} of ${o.label}`);
    r = await runNmap(o.argv, { bin: o.nmapBin, timeoutS: o.timeoutS, signal: o.signal, onProgress: o.onFraction, onLine: o.onLine });
  } catch (e) {
    return out({ status: "failed", error: (e as Error).message }, (e as Error).message);
  } finally {
    release();
  }
  if (r.stopped === "cancel") return out({ status: "cancelled" }, `cancelled during ${o.name} of ${o.label}`);
  if (r.stopped === "timeout") return out({ status: "timeout" }, `${o.name} of ${o.label} timed out after ${o.phaseTimeoutS ?? o.timeoutS}s`);
  if (r.code !== 0 || !existsSync(o.xml)) {
    const line = (r.stderr.trim().split("\n").pop() ?? "").slice(0, 300);
    return out({ status: "failed", error: line }, `nmap ${o.name} of ${o.label} failed (exit ${r.code})${line ? `: ${line}` : ""}`);
  }
  const said = r.stderr.trim().split("\n").filter(Boolean).slice(-3).join("; ").slice(0, 300);
  try {
    return { ...out({ ms: r.ms }), ...(said ? { stderr: said } : {}), report: parseNmapXml(readFileSync(o.xml, "utf8"), `nmap ${o.name} XML`) };
  } catch (e) {
    return out({ status: "failed", error: (e as Error).message }, (e as Error).message);
  }
}
