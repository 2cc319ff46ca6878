import { Command, Option } from "clipanion";
import { FalcCommand } from "../../src/cli/base.ts";
import { parseIntOption } from "../../src/cli/options.ts";

export class ProcessShowCommand extends FalcCommand {
  static paths = [["process", "show"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Show an analysis: state, target, hashes, score, signatures, tasks and errors",
    details: `
      Reads the analysis directory (analysis.json, identification.json, pre.json and each task's
      report.json). --json prints the same summary as one document, with every error and fatal
      traceback. Exit 1 when the analysis failed or its score is over --fail-score.
    `,
    examples: [
      ["Show an analysis", "falc process show 20261125-A1B2C3"],
      ["As JSON, with tracebacks", "falc process show 20261125-A1B2C3 --json"],
    ],
  });
  id = Option.String({ required: true, name: "analysis-id" });
  failScore = Option.String("--fail-score", { description: "Exit 1 when the score is above this (0-10)" });
  top = Option.String("--top", { description: "Signatures listed (default 10)" });

  async run() {
    const { scoreExit } = await import("../../src/process/cli.ts");
    const { splitAnalysisId } = await import("../../src/process/ids.ts");
    const { formatSummary, summarize } = await import("../../src/process/summary.ts");
    const { openStore } = await import("../../src/process/storage.ts");
    const failScore = parseIntOption("--fail-score", this.failScore, { min: 0, max: 10 });
    const top = parseIntOption("--top", this.top, { min: 0, max: 10_000 }) ?? 10;
    splitAnalysisId(this.id);
    const s = summarize(openStore(this.config.home), this.id);
    if (this.json) this.outJson(s);
    else this.out(formatSummary(s, { top }));
    return scoreExit([s], failScore, (line) => this.context.stderr.write(`falc: ${line}\n`));
  }
}
