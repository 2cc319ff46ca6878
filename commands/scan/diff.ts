import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { EXIT, usageError } from "../../src/core/errors.ts";
import { table } from "../../src/cli/table.ts";

export class ScanDiffCommand extends FalcCommand {
  static paths = [["scan", "diff"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Compare two scan runs of a project: ports opened, closed, or changed",
    details: "Without run ids, compares the project's latest finished run with the finished run before it of the same schedule, or of the same targets and profile (cancelled, failed and partial runs never count); only targets both runs scanned are compared. Exit 0 when equal, 1 when they differ (with --exit-code), 2 for unknown run ids or projects.",
    examples: [
      ["Last two runs of the default project", "falc scan diff"],
      ["Two given runs, JSON", "falc scan diff scan-20261123T0201-abc scan-20261123T0301-def --json"],
      ["In CI: exit 1 on any difference", "falc scan diff --project acme --exit-code"],
    ],
  });
  from = Option.String({ required: false });
  to = Option.String({ required: false });
  project = Option.String("--project", "default", { description: "Ledger project" });
  exitCode = Option.Boolean("--exit-code", false, { description: "Exit 1 when the runs differ" });

  async run() {
    const { diffRuns, Ledger } = await import("../../src/scan/ledger.ts");
    const ledger = Ledger.open(this.config.home);
    let a, b;
    try {
      if (this.from && this.to) {
        a = ledger.run(this.from);
        b = ledger.run(this.to);
      } else if (this.from) throw usageError("give two run ids, or none to compare the last two runs");
      else {
        const c = ledger.comparableRuns(this.project);
        if (!("runs" in c)) throw usageError(c.latest ? `run ${c.latest.id} is the first finished run of its targets and profile (or schedule) in project \`${this.project}\`: nothing to compare it with` : `project \`${this.project}\` has no finished run`);
        [a, b] = c.runs;
      }
    } finally {
      ledger.close();
    }
    const d = diffRuns(a!, b!);
    const n = d.opened.length + d.closed.length + d.changed.length;
    if (this.json) this.outJson(d);
    else if (!n) this.out(`no differences between ${d.from} and ${d.to}`);
    else {
      const fmt = (s?: { service?: string; product?: string; version?: string }) => (s ? [s.service, s.product, s.version].filter(Boolean).join(" ") || "-" : "-");
      this.out(`${d.from} → ${d.to}`);
      this.out(table(["CHANGE", "IP", "PORT", "BEFORE", "AFTER"], [
        ...d.opened.map((e) => ["opened", e.ip, `${e.port}/${e.proto}`, "-", fmt(e.after)]),
        ...d.closed.map((e) => ["closed", e.ip, `${e.port}/${e.proto}`, fmt(e.before), "-"]),
        ...d.changed.map((e) => ["changed", e.ip, `${e.port}/${e.proto}`, fmt(e.before), fmt(e.after)]),
      ]));
    }
    return this.exitCode && n ? EXIT.failed : EXIT.ok;
  }
}
