import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { parseIntOption } from "../src/cli/options.ts";
import { EXIT, usageError } from "../src/core/errors.ts";
import type { ImportMode } from "../src/scan/ledger.ts";

export class ScanCommand extends FalcCommand {
  static paths = [["scan"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Two-phase nmap scan (open ports, then services) with typed profiles and a ledger",
    details: `
      Targets are addresses, CIDRs, ranges (10.0.0.1-20), IPv6, or hostnames (resolved; names kept).
      Phase 1 finds open ports, phase 2 identifies services on exactly those ports. One task per
      target, \`--parallel\` at a time (or \`--submit\` to queue them for \`falc worker --stage scan\`);
      results are merged into the project's ledger (\`--mode\` insert|append|update|replace).
      Scan options come only from typed profiles (built-in default, fast, full, web, udp, or a
      YAML file), never raw nmap flags. Targets outside \`scope.allow\` / inside \`scope.deny\` are
      refused with a reason. Exit 0 ok, 1 scan failed or expectations not met, 2 usage error.
    `,
    examples: [
      ["Scan a /24 with the default profile", "falc scan 10.0.0.0/24"],
      ["Fast scan of two hosts, 8 in parallel, JSON out", "falc scan 10.0.0.1 10.0.0.2 --profile fast --parallel 8 --json"],
      ["Targets from a file into a project", "falc scan --targets-file hosts.txt --project acme"],
      ["CI: fail when anything but 22 and 443 is open", "falc scan 10.0.0.5 --expect-open 22,443 --fail-on-new"],
      ["Queue one task per target for workers", "falc scan 10.0.0.0/24 --submit"],
      ["Upload the merged XML to ScanLedger", "falc scan 10.0.0.5 --upload https://ledger.example --token $TOKEN"],
    ],
  });
  targets = Option.Rest();
  targetsFile = Option.String("--targets-file", { description: "Read targets from a file (whitespace separated, # comments), like nmap -iL" });
  profile = Option.String("--profile", "default", { description: "Scan profile: default, fast, full, web, udp, or a YAML file" });
  project = Option.String("--project", "default", { description: "Ledger project" });
  parallel = Option.String("--parallel", { description: "Targets scanned at once (local run; default scan.parallel or 8)" });
  mode = Option.String("--mode", { description: "Ledger import mode: insert, append, update (default), replace" });
  skipKnown = Option.Boolean("--skip-known", false, { description: "Refuse targets already in the project's ledger" });
  submit = Option.Boolean("--submit", false, { description: "Queue one scan task per target instead of scanning here" });
  format = Option.String("--format", "table", { description: "Output: table, json, ndjson, csv, xml" });
  expectOpen = Option.String("--expect-open", { description: "Ports that must be open (22,443); exit 1 if one is missing" });
  failOnNew = Option.Boolean("--fail-on-new", false, { description: "Exit 1 if a port is open that was not expected (or not in the ledger before)" });
  upload = Option.String("--upload", { description: "ScanLedger-compatible API base URL to post the merged XML to" });
  token = Option.String("--token", { description: "Bearer token for --upload (default $FALC_SCANLEDGER_TOKEN)" });

  async run() {
    const { scanConfig, scopeOf } = await import("../src/scan/config.ts");
    const { checkFormat, formatResults } = await import("../src/scan/format.ts");
    const { IMPORT_MODES, Ledger } = await import("../src/scan/ledger.ts");
    const { loadProfile, parsePorts } = await import("../src/scan/profile.ts");
    const { runLocalScan } = await import("../src/scan/scan.ts");
    const { expandTargets, readTargetsFile } = await import("../src/scan/targets.ts");
    const { expectationFailures } = await import("../src/scan/expect.ts");
    const { uploadXml } = await import("../src/scan/upload.ts");
    const { toNmapXml } = await import("../src/scan/xml.ts");
    const cfg = scanConfig(this.config);
    const mode = (this.mode ?? cfg.mode) as ImportMode;
    if (!IMPORT_MODES.includes(mode)) throw usageError(`--mode must be one of ${IMPORT_MODES.join(", ")}, got \`${this.mode}\``);
    const format = checkFormat(this.json ? "json" : this.format);
    const parallel = parseIntOption("--parallel", this.parallel, { min: 1, max: 256 }) ?? cfg.parallel;
    const expected = this.expectOpen !== undefined ? parsePorts(this.expectOpen) : null;
    if (this.expectOpen !== undefined && !expected) throw usageError(`--expect-open must be ports like 22,443, got \`${this.expectOpen}\``);
    const token = this.token ?? process.env.FALC_SCANLEDGER_TOKEN;
    if (this.upload && !token) throw usageError("--upload needs --token (or $FALC_SCANLEDGER_TOKEN)");
    const profile = loadProfile(this.profile);
    const specs = [...this.targets, ...(this.targetsFile ? readTargetsFile(this.targetsFile) : [])];
    if (!specs.length) throw usageError("no targets: give addresses, CIDRs, ranges or hostnames, or --targets-file");

    const ledger = Ledger.open(this.config.home);
    let before: Set<string>;
    let set;
    try {
      ledger.projectId(this.project);
      set = await expandTargets(specs, { maxTargets: cfg.max_targets, scope: scopeOf(this.config), inLedger: this.skipKnown ? (ip) => ledger.hasHost(this.project, ip) : undefined });
      before = new Set(ledger.hosts(this.project).flatMap((h) => h.ports.map((p) => `${h.ip} ${p.proto}/${p.port}`)));
    } finally {
      ledger.close();
    }
    for (const r of set.refused) this.context.stderr.write(`falc: refused ${r.ip ?? r.input} (${r.reason}): ${r.detail}\n`);
    if (!set.targets.length) throw usageError(`no targets left to scan (${set.refused.length} refused)`);

    if (this.submit) {
      const q = await this.queue();
      const runId = `scan-${Date.now().toString(36)}`;
      const tasks = await q.enqueueMany(set.targets.map((t) => ({ stage: "scan", payload: { target: t.ip, hostnames: t.hostnames, profile: profile.name === this.profile ? this.profile : profile, project: this.project, mode, run_id: runId } })));
      if (this.json) this.outJson({ run: runId, tasks: tasks.map((t) => ({ id: t.id, target: (t.payload as { target: string }).target })), refused: set.refused });
      else for (const t of tasks) this.out(`${t.id}  ${(t.payload as { target: string }).target}`);
      return;
    }

    const ac = new AbortController();
    const onSig = () => ac.abort();
    process.once("SIGINT", onSig);
    process.once("SIGTERM", onSig);
    const tty = Boolean(process.stderr.isTTY) && !this.json;
    let lastDraw = 0;
    const summary = await runLocalScan({
      targets: set.targets,
      profile,
      project: this.project,
      mode,
      parallel,
      home: this.config.home,
      queue: await this.queue(),
      nmapBin: cfg.nmap,
      lockTtlMs: cfg.lock_ttl_s * 1000,
      signal: ac.signal,
      log: this.log,
      onProgress: (done, total, f, note) => {
        if (!tty || Date.now() - lastDraw < 200) return;
        lastDraw = Date.now();
        const w = 24, n = Math.round(f * w);
        this.context.stderr.write(`\r\x1b[K[${"#".repeat(n)}${"-".repeat(w - n)}] ${(f * 100).toFixed(0).padStart(3)}%  ${done}/${total}  ${note.slice(0, 50)}`);
      },
    }).finally(() => {
      process.off("SIGINT", onSig);
      process.off("SIGTERM", onSig);
      if (tty) this.context.stderr.write("\r\x1b[K");
    });

    let uploaded: unknown = null;
    if (this.upload && summary.hosts.length) {
      const res = await uploadXml({ url: this.upload, token: token!, project: this.project, mode, xml: toNmapXml(summary.hosts), signal: ac.signal });
      uploaded = { status: res.status, attempts: res.attempts };
    }
    const problems = expectationFailures(summary.hosts, { expected, failOnNew: this.failOnNew, before });
    if (format === "json") this.outJson({ ...summary, refused: set.refused, uploaded, expectations: problems });
    else this.context.stdout.write(formatResults(summary.hosts, format));
    for (const t of summary.targets) if (t.status !== "finished" && t.status !== "down") this.context.stderr.write(`falc: ${t.ip} ${t.status}${t.error ? `: ${t.error}` : ""}\n`);
    for (const p of problems) this.context.stderr.write(`falc: ${p}\n`);
    if (summary.status !== "finished" || problems.length) return EXIT.failed;
    return EXIT.ok;
  }
}
