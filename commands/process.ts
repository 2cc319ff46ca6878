import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { notBuilt } from "../src/cli/not-built.ts";

export class ProcessCommand extends FalcCommand {
  static paths = [["process"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Analyse a file or URL the Cuckoo3 way: identification, pre (static), post (behaviour), reports",
    details: `
      Submits a file or URL and runs identification and pre locally (no workers needed), writing a
      Cuckoo3-compatible analysis directory under FALC_HOME/storage/analyses/. Prints the type, hashes,
      score and top signatures. Exit 1 when the score is over --fail-score.
    `,
    examples: [
      ["Analyse a file and print a summary", "falc process ./sample.exe"],
      ["Fail a CI step on a score of 8 or more", "falc process ./build/app --fail-score 7 --json"],
      ["Show an analysis", "falc process show 20261122-ABC123"],
    ],
  });
  target = Option.String({ required: false });
  failScore = Option.String("--fail-score", { description: "Exit 1 when the score is above this (0-10)" });
  wait = Option.Boolean("--wait", false, { description: "Wait for queued stages to finish" });
  async run() {
    notBuilt("process");
  }
}
