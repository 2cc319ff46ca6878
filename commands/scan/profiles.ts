import { Command } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { table } from "../../src/cli/table.ts";

export class ScanProfilesCommand extends FalcCommand {
  static paths = [["scan", "profiles"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "List the scan profiles: name, ports and what each does",
    details: "A profile is also any YAML file with the same fields, given as `--profile path.yaml`.",
    examples: [["The built-in profiles", "falc scan profiles"], ["As JSON", "falc scan profiles --json"]],
  });

  async run() {
    const { BUILTIN_PROFILES, loadProfile } = await import("../../src/scan/profile.ts");
    const rows = BUILTIN_PROFILES.map((n) => loadProfile(n)).map((p) => ({ name: p.name, ports: p.ports ?? `top ${p.top_ports ?? 1000}`, udp: p.udp, description: p.description ?? "" }));
    if (this.json) return this.outJson(rows);
    this.out(table(["PROFILE", "PORTS", "DESCRIPTION"], rows.map((r) => [r.name, `${r.udp ? "U:" : ""}${r.ports}`, r.description])));
  }
}
