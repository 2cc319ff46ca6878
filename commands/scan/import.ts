import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { usageError } from "../../src/core/errors.ts";

export class ScanImportCommand extends FalcCommand {
  static paths = [["scan", "import"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Bring nmap XML files into a project's ledger (ScanLedger's import)",
    details: `
      The same modes as a scan: insert, append, update (default), replace; replace closes, on every
      host a file lists, the known ports among the file's scanned ports (<scaninfo>) that it does not
      show open. Every file is read and checked first: a malformed or truncated one is refused with
      one line and nothing is imported. Exit 0 imported, 2 bad input.
    `,
    examples: [
      ["Import a scan", "falc scan import scan.xml"],
      ["Several files into a project, replacing what they rescanned", "falc scan import a.xml b.xml --project acme --mode replace"],
    ],
  });
  files = Option.Rest({ required: 1 });
  project = Option.String("--project", "default", { description: "Ledger project" });
  mode = Option.String("--mode", { description: "insert, append, update (default: scan.mode), replace" });

  async run() {
    const { IMPORT_MODES } = await import("../../src/scan/ledger.ts");
    const { scanConfig } = await import("../../src/scan/config.ts");
    const { importXml } = await import("../../src/scan/import.ts");
    const mode = (this.mode ?? scanConfig(this.config).mode) as (typeof IMPORT_MODES)[number];
    if (!IMPORT_MODES.includes(mode)) throw usageError(`--mode must be one of ${IMPORT_MODES.join(", ")}, got \`${this.mode}\``);
    const r = importXml(this.config.home, this.files, { project: this.project, mode });
    if (this.json) return this.outJson(r);
    const s = r.stats;
    this.out(`imported ${this.files.length} file${this.files.length === 1 ? "" : "s"} into ${this.project} (${mode}): ${s.hostsAdded} hosts added, ${s.hostsSkipped} skipped, ${s.portsAdded} ports added, ${s.portsUpdated} updated, ${s.portsClosed} closed`);
  }
}
