import type { FalcCommand } from "../cli/base.ts";
import { scanConfig } from "./config.ts";
import { formatResults, type ResultFormat } from "./format.ts";
import { progressBar } from "./progress.ts";
import { runLocalScan } from "./scan.ts";
import type { ScanPlan } from "./scan-request.ts";
import { judgeRun } from "./scan-report.ts";
import { uploadXml } from "./upload.ts";
import { toNmapXml } from "./xml.ts";

/** `falc scan` without --submit: run in this process with a progress bar, print, judge. */
export async function runScanHere(cmd: FalcCommand, plan: ScanPlan, o: { format: ResultFormat; failOnNew: boolean; upload?: { url: string; token: string } }): Promise<number> {
  const cfg = scanConfig(cmd.config);
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once("SIGINT", onSig);
  process.once("SIGTERM", onSig);
  const err = cmd.context.stderr;
  const bar = progressBar(err, Boolean(process.stderr.isTTY) && o.format !== "json");
  const summary = await runLocalScan({
    targets: plan.targets, profile: plan.profile, project: plan.project, mode: plan.mode, parallel: plan.parallel, home: cmd.config.home,
    queue: await cmd.queue(), nmapBin: cfg.nmap, lockTtlMs: cfg.lock_ttl_s * 1000, signal: ac.signal,
    onProgress: (done, total, f, note) => bar.update(done, total, f, note),
  }).finally(() => {
    process.off("SIGINT", onSig);
    process.off("SIGTERM", onSig);
    bar.clear();
  });
  let uploaded: unknown = null;
  if (o.upload && summary.hosts.length && summary.status !== "cancelled") {
    const res = await uploadXml({ url: o.upload.url, token: o.upload.token, project: plan.project, mode: plan.mode, xml: toNmapXml(summary.hosts), signal: ac.signal });
    uploaded = { status: res.status, attempts: res.attempts };
  }
  const j = judgeRun(summary, plan, { failOnNew: o.failOnNew });
  if (o.format === "json") cmd.context.stdout.write(JSON.stringify({ ...summary, refused: plan.refused, notScanned: j.notScanned, uploaded, expectations: j.problems }, null, 2) + "\n");
  else cmd.context.stdout.write(formatResults(summary.hosts, o.format));
  if (j.notScanned.length) err.write(`falc: ${j.notScanned.length} target${j.notScanned.length === 1 ? "" : "s"} not scanned:\n`);
  for (const t of j.notScanned.slice(0, 50)) err.write(`falc:   ${t.ip} ${t.status}${t.error ? `: ${t.error}` : ""}\n`);
  if (j.notScanned.length > 50) err.write(`falc:   … and ${j.notScanned.length - 50} more (--json lists all)\n`);
  for (const p of j.problems) err.write(`falc: ${p}\n`);
  return j.exit;
}
