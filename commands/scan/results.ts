import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";

export class ScanResultsCommand extends FalcCommand {
  static paths = [["scan", "results"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Show a project's ledger: hosts, open ports and services",
    details: "Formats: table (default), json, ndjson (a line per port), csv, xml (nmap XML valid against nmap.dtd, with the scaninfo, times and args of the project's latest run: ndiff, ScanLedger and other tools read it).",
    examples: [
      ["Open ports of the default project", "falc scan results"],
      ["A project as nmap XML", "falc scan results --project acme --format xml > acme.xml"],
      ["Including closed ports, as CSV", "falc scan results --all --format csv"],
    ],
  });
  project = Option.String("--project", "default", { description: "Ledger project" });
  format = Option.String("--format", "table", { description: "table, json, ndjson, csv, xml" });
  all = Option.Boolean("--all", false, { description: "Include ports closed by later scans" });
  history = Option.Boolean("--history", false, { description: "Print the change history instead (state/service/product/version)" });

  async run() {
    const { checkFormat, formatResults } = await import("../../src/scan/format.ts");
    const { Ledger } = await import("../../src/scan/ledger.ts");
    const format = checkFormat(this.json ? "json" : this.format);
    const ledger = Ledger.open(this.config.home);
    try {
      if (this.history) {
        const h = ledger.history(this.project);
        if (format === "json") this.outJson(h);
        else for (const r of h) this.out(`${new Date(r.at).toISOString()}  ${r.ip} ${r.port}/${r.proto}  ${r.field}: ${r.old ?? "-"} → ${r.new ?? "-"}`);
        return;
      }
      const hosts = ledger.hosts(this.project, { includeClosed: this.all });
      this.context.stdout.write(formatResults(hosts, format, format === "xml" ? ledger.latestMeta(this.project) ?? undefined : undefined));
    } finally {
      ledger.close();
    }
  }
}
