import { readFileSync } from "node:fs";
import { Command, Option } from "clipanion";
import { FalcCommand } from "../src/cli/base.ts";
import { inputError, usageError } from "../src/core/errors.ts";

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
    const { languageFromFile } = await import("../src/eval/languages.ts");
    const { engineChoiceSchema } = await import("../src/eval/types.ts");
    const { resultExitCode, summaryLine } = await import("../src/eval/format.ts");
    if (this.code !== undefined && this.file !== undefined) throw usageError("give FILE or -c CODE, not both");
    let code: string;
    if (this.code !== undefined) code = this.code;
    else if (this.file === "-") code = readFileSync(0, "utf8");
    else if (this.file !== undefined) {
      try {
        code = readFileSync(this.file, "utf8");
      } catch (e) {
        throw inputError(`${this.file}: cannot read (${(e as NodeJS.ErrnoException).code ?? "error"})`);
      }
    } else throw usageError("give FILE (or - for stdin) or -c CODE; see falc eval --help");
    if (this.stdinText !== undefined && this.stdinFile !== undefined) throw usageError("give --stdin or --stdin-file, not both");
    let stdinB64: string | undefined;
    if (this.stdinFile !== undefined) {
      try {
        stdinB64 = readFileSync(this.stdinFile).toString("base64");
      } catch (e) {
        throw inputError(`${this.stdinFile}: cannot read (${(e as NodeJS.ErrnoException).code ?? "error"})`);
      }
    }
    const lang = this.lang ?? (this.file && this.file !== "-" ? languageFromFile(this.file) : undefined);
    if (!lang) throw usageError("--lang is required (python3, node, bun, sh, c, cpp, or one from eval.languages)");
    let engine;
    if (this.engine !== undefined) {
      const p = engineChoiceSchema.safeParse(this.engine);
      if (!p.success) throw usageError(`--engine must be gvisor, bwrap, docker or auto, got \`${this.engine}\``);
      engine = p.data;
    }
    const num = (name: string, v: string | undefined, min: number, max: number) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || v.trim() === "") throw usageError(`${name} must be a number, got \`${v}\``);
      if (n < min || n > max) throw usageError(`${name} must be between ${min} and ${max}, got ${n}`);
      return n;
    };
    const settings = evalSettings(this.config);
    const int = (name: string, v: string | undefined, min: number, max: number) => {
      const n = num(name, v, min, max);
      if (n !== undefined && !Number.isInteger(n)) throw usageError(`${name} must be a whole number, got \`${v}\``);
      return n;
    };
    const r = await evalPayload(
      {
        code,
        language: lang,
        engine,
        timeout: num("--timeout", this.timeout, 0.1, 3600),
        memory: int("--memory", this.memory, 16, 65536),
        limits: { cpu: num("--cpu", this.cpu, 0.1, 3600), pids: int("--pids", this.pids, 1, 4096), output_kb: int("--output-kb", this.output, 1, 1024 * 1024) },
        stdin: this.stdinText,
        stdin_b64: stdinB64,
      },
      settings,
      { log: this.log },
    );
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
