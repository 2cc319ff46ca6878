import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";

export class EvalCommand extends FalcCommand {
  static paths = [["eval"]];
  static usage = Command.Usage({
    category: "Stages",
    description: "Run untrusted code in a sandbox (gVisor, bubblewrap, Docker) with limits",
    details: `
      Limits on wall time, CPU, memory, processes, output and file size; no network. The program's
      stdout and stderr are printed as they were captured (truncated at the output cap) and a summary
      line goes to stderr; --json prints the whole result instead. Exit 0 when the code ran and exited
      0, exit 1 when it failed or hit a limit (so a CI step can trust it), exit 2 for bad usage.

      Engines: gvisor (runsc), bwrap (bubblewrap), docker (only when an engine answers), auto (the
      \`eval.order\` config list, default gvisor, bwrap, docker). A fallback is printed and recorded.
      Languages: python3 (python), node, bun, sh, c and cpp (compiled in a sandbox of their own first:
      status compile_error with the compiler's output when it fails); more in the \`eval.languages\` config.
    `,
    examples: [
      ["Run a Python file under gVisor", "falc eval solution.py --lang python --engine gvisor"],
      ["Run a snippet with 2 s and 128 MB", "falc eval -c 'print(1+1)' --lang python --timeout 2 --memory 128"],
      ["Full result as JSON for a script", "falc eval -c 'echo hi' --lang sh --engine bwrap --json"],
      ["Code from stdin", "cat job.js | falc eval - --lang node"],
      ["Binary input from a file", "falc eval filter.py --stdin-file input.bin --json   # stdout_b64 when the output is not UTF-8"],
    ],
  });
  file = Option.String({ required: false, name: "FILE" });
  code = Option.String("-c,--code", { description: "The code to run (instead of FILE)" });
  lang = Option.String("--lang", { description: "python3|python|node|bun|sh|c|cpp (default: from FILE's extension)" });
  engine = Option.String("--engine", { description: "gvisor|bwrap|docker|auto (default: eval.engine config, auto)" });
  timeout = Option.String("--timeout", { description: "Wall time in seconds (default 10)" });
  cpu = Option.String("--cpu", { description: "CPU time in seconds (default: the wall time)" });
  memory = Option.String("--memory", { description: "Memory in MB (default 256)" });
  pids = Option.String("--pids", { description: "Processes (default 64)" });
  output = Option.String("--output-kb", { description: "Output cap per stream in KB (default 1024)" });
  stdinText = Option.String("--stdin", { description: "Text fed to the program's stdin" });
  stdinFile = Option.String("--stdin-file", { description: "File fed to the program's stdin as it is (any bytes, up to eval.max_limits.stdin_kb)" });

  async run() {
    const { evalSettings } = await import("../src/eval/config.ts");
    const { evalPayload } = await import("../src/eval/stage.ts");
    const { payloadFromFlags } = await import("../src/eval/cli-input.ts");
    const { resultExitCode, summaryLine } = await import("../src/eval/format.ts");
    const payload = payloadFromFlags({ file: this.file, code: this.code, lang: this.lang, engine: this.engine, timeout: this.timeout, cpu: this.cpu, memory: this.memory, pids: this.pids, output: this.output, stdinText: this.stdinText, stdinFile: this.stdinFile });
    const r = await evalPayload(payload, evalSettings(this.config), { log: this.log });
    if (this.json) this.outJson(r);
    else {
      if (r.compile_output) this.context.stderr.write(r.compile_output);
      // The program's own bytes, exactly (stdout_b64 is set when they are not UTF-8).
      this.context.stdout.write(r.stdout_b64 !== undefined ? Buffer.from(r.stdout_b64, "base64") : r.stdout);
      this.context.stderr.write(r.stderr_b64 !== undefined ? Buffer.from(r.stderr_b64, "base64") : r.stderr);
      this.context.stderr.write(summaryLine(r) + "\n");
    }
    if (r.status === "error" && r.engine === null && !this.json) return 1;
    return resultExitCode(r);
  }
}
