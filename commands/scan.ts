import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { notBuilt } from "../src/cli/not-built.ts";

export class ScanCommand extends FalcCommand {
  static paths = [["scan"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Two-phase nmap scan (open ports, then services) with typed profiles and a ledger",
    details: `
      Targets are addresses, CIDRs, ranges (10.0.0.1-20) or hostnames. Phase 1 finds open ports,
      phase 2 identifies services on exactly those ports. One task per target; results are merged
      into the project's ledger. Scan options come only from typed profiles, never raw nmap flags.
    `,
    examples: [
      ["Scan a /24 with the default profile", "falc scan 10.0.0.0/24"],
      ["Fast scan of two hosts, 8 in parallel, JSON out", "falc scan 10.0.0.1 10.0.0.2 --profile fast --parallel 8 --json"],
      ["CI: fail when anything but 22 and 443 is open", "falc scan 10.0.0.5 --expect-open 22,443 --fail-on-new"],
    ],
  });
  targets = Option.Rest();
  profile = Option.String("--profile", "default", { description: "Scan profile: default, fast, full, web, udp, or a YAML file" });
  project = Option.String("--project", "default", { description: "Ledger project" });
  parallel = Option.String("--parallel", { description: "Targets scanned at once (local run)" });
  async run() {
    notBuilt("scan");
  }
}
