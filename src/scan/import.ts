import { readFileSync, statSync } from "node:fs";
import { inputError } from "../core/errors.ts";
import type { ImportMode, ImportStats } from "./ledger.ts";
import { withLedger } from "./scan.ts";
import { parseNmapXml, type ScanReport } from "./xml.ts";

const MAX_XML = 512 * 1024 * 1024;

/** Read and check every file before anything is imported: one bad file refuses them all. */
export function readReports(files: string[]): { file: string; report: ScanReport }[] {
  return files.map((file) => {
    let text: string;
    try {
      if (statSync(file).size > MAX_XML) throw inputError(`${file}: larger than 512 MiB`);
      text = readFileSync(file, "utf8");
    } catch (e) {
      if ((e as { code?: string }).code === "invalid_input") throw e;
      throw inputError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    return { file, report: parseNmapXml(text, file) };
  });
}

/**
 * Bring nmap XML files into a project's ledger with the same modes as a scan, all in one
 * transaction. Every host a file lists was scanned on that file's <scaninfo> ports: replace closes
 * the known ports among them not found open (a host listed down closes them all); hosts a file does
 * not list are left as they are. Each file is recorded as a finished run with its args and times.
 */
export function importXml(home: string, files: string[], o: { project: string; mode: ImportMode }): { runs: string[]; stats: ImportStats } {
  const reports = readReports(files);
  const total: ImportStats = { hostsAdded: 0, hostsSkipped: 0, portsAdded: 0, portsUpdated: 0, portsClosed: 0 };
  const runs: string[] = [];
  withLedger(home, (l) =>
    l.db.transaction(() => {
      for (const [i, { file, report }] of reports.entries()) {
        const runId = `import-${Date.now().toString(36)}-${i}`;
        const scanned = Object.fromEntries(report.hosts.map((h) => [h.ip, report.scanned]));
        const s = l.importHosts(o.project, report.hosts, o.mode, { runId, scanned: report.scanInfo.length ? scanned : undefined });
        for (const k of Object.keys(total) as (keyof ImportStats)[]) total[k] += s[k];
        l.startRun({ id: runId, project: o.project, profile: `import:${file.replace(/^.*\//, "").slice(0, 100)}`, mode: o.mode, targets: report.hosts.map((h) => h.ip) });
        l.finishRun(runId, "finished", report.hosts, {
          args: report.args || undefined, startedAt: report.startedAt ?? undefined, finishedAt: report.finishedAt ?? undefined, scanInfo: report.scanInfo,
        });
        runs.push(runId);
      }
    }).immediate(),
  );
  return { runs, stats: total };
}
