import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { notBuilt } from "../src/cli/not-built.ts";

export class EvalCommand extends FalcCommand {
  static paths = [["eval"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Run untrusted code in a sandbox (gVisor, bubblewrap, Docker) with limits",
    details: `
      Limits on wall time, CPU, memory, processes and output; no network. Exit 1 when the code
      failed or hit a limit, so a CI step can trust it.
    `,
    examples: [
      ["Run a Python file under gVisor", "falc eval solution.py --lang python --engine gvisor"],
      ["Run a snippet with 2 s and 128 MB", "falc eval -c 'print(1+1)' --lang python --timeout 2 --memory 128"],
    ],
  });
  file = Option.String({ required: false });
  code = Option.String("-c,--code");
  lang = Option.String("--lang");
  engine = Option.String("--engine", "auto");
  async run() {
    notBuilt("eval");
  }
}
