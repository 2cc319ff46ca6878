import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { parseIntOption } from "../src/cli/options.ts";
import { usageError } from "../src/core/errors.ts";

export class ScanCommand extends FalcCommand {
  static paths = [["scan"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Two-phase nmap scan (open ports, then services) with typed profiles and a ledger",
    details: `
      Targets are addresses, CIDRs, ranges (10.0.0.1-20), IPv6, or host names with a dot (resolved;
      names kept); a bare word is looked up only with \`--resolve\`. Phase 1 finds open ports, phase 2
      identifies services on exactly those ports. Every target ends up, down, unreachable, timed_out
      or failed; only up and down count as scanned, and only they change the ledger (\`--mode\`
      insert|append|update|replace; a cancelled run changes nothing). Profiles: \`falc scan profiles\`.
      Exit 0 every target scanned and every expectation met, 1 otherwise, 2 usage or input error.
    `,
    examples: [
      ["Scan a /24 with the default profile", "falc scan 10.0.0.0/24"],
      ["Fast scan of two hosts, 8 in parallel, JSON out", "falc scan 10.0.0.1 10.0.0.2 --profile fast --parallel 8 --json"],
      ["Targets from a file into a project", "falc scan --targets-file hosts.txt --project acme"],
      ["CI: fail when a host lacks 22 or 443, or has more open", "falc scan 10.0.0.5 --expect-open 22,443 --fail-on-new"],
      ["Queue the run for workers (one host sweep, then a task per live host)", "falc scan 10.0.0.0/24 --submit"],
      ["Upload the merged XML to ScanLedger", "falc scan 10.0.0.5 --upload https://ledger.example --token $TOKEN"],
    ],
  });
  targets = Option.Rest();
  targetsFile = Option.String("--targets-file", { description: "Read targets from a file (whitespace separated, # comments), like nmap -iL" });
  profile = Option.String("--profile", "default", { description: "Scan profile: default, fast, full, web, udp, or a YAML file (falc scan profiles)" });
  project = Option.String("--project", "default", { description: "Ledger project" });
  parallel = Option.String("--parallel", { description: "Targets scanned at once (local run; default scan.parallel or 8)" });
  mode = Option.String("--mode", { description: "Ledger import mode: insert, append, update (default), replace" });
  skipKnown = Option.Boolean("--skip-known", false, { description: "Refuse targets already in the project's ledger" });
  resolve = Option.Boolean("--resolve", false, { description: "Look up bare words (no dot) in DNS as host names" });
  submit = Option.Boolean("--submit", false, { description: "Queue the run for workers: one host sweep task that queues a task per live host" });
  format = Option.String("--format", "table", { description: "Output: table, json, ndjson, csv, xml" });
  expectOpen = Option.String("--expect-open", { description: "Ports that must be open on every up host (22,443); exit 1 if one is missing" });
  failOnNew = Option.Boolean("--fail-on-new", false, { description: "Exit 1 if a port is open that was not expected (or not in the ledger before)" });
  upload = Option.String("--upload", { description: "ScanLedger-compatible API base URL to post the merged XML to" });
  token = Option.String("--token", { description: "Bearer token for --upload (default $FALC_SCANLEDGER_TOKEN)" });

  async run() {
    const { checkFormat } = await import("../src/scan/format.ts");
    const { planScan, refusalLines, submitScan } = await import("../src/scan/scan-request.ts");
    const { runScanHere } = await import("../src/scan/scan-here.ts");
    const format = checkFormat(this.json ? "json" : this.format);
    const token = this.token ?? process.env.FALC_SCANLEDGER_TOKEN;
    if (this.upload && !token) throw usageError("--upload needs --token (or $FALC_SCANLEDGER_TOKEN)");
    const plan = await planScan(this.config, { ...this, parallel: parseIntOption("--parallel", this.parallel, { min: 1, max: 256 }) });
    for (const l of refusalLines(plan.refused)) this.context.stderr.write(`falc: ${l}\n`);
    if (!plan.targets.length) throw usageError(`no targets left to scan (${plan.refused.length} refused)`);
    if (!this.submit) return runScanHere(this, plan, { format, failOnNew: this.failOnNew, upload: this.upload ? { url: this.upload, token: token! } : undefined });
    const s = await submitScan(await this.queue(), plan, this.profile);
    for (const ip of s.busy) this.context.stderr.write(`falc: ${ip} already has a scan queued or running: not submitted again\n`);
    if (this.json) this.outJson({ run: s.runId, tasks: s.tasks, ...(s.sweep ? { sweep: s.sweep } : {}), busy: s.busy, refused: plan.refused });
    else for (const t of s.tasks) this.out(`${t.id}  ${t.target}`);
    return s.busy.length && !s.tasks.length ? 1 : 0;
  }
}
