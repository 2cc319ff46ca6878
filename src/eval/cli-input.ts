import { readFileSync } from "node:fs";
import { inputError, usageError } from "../core/errors.ts";
import { languageFromFile } from "./languages.ts";
import type { EvalPayload } from "./payload.ts";
import { engineChoiceSchema } from "./types.ts";

/** `falc eval`'s flags as given (strings, unparsed). */
export interface EvalFlags {
  file?: string;
  code?: string;
  lang?: string;
  engine?: string;
  timeout?: string;
  cpu?: string;
  memory?: string;
  pids?: string;
  output?: string;
  stdinText?: string;
  stdinFile?: string;
}

function readInput(path: string | 0): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw inputError(`${path === 0 ? "stdin" : path}: cannot read (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

function num(name: string, v: string | undefined, min: number, max: number, whole = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || v.trim() === "") throw usageError(`${name} must be a number, got \`${v}\``);
  if (n < min || n > max) throw usageError(`${name} must be between ${min} and ${max}, got ${n}`);
  if (whole && !Number.isInteger(n)) throw usageError(`${name} must be a whole number, got \`${v}\``);
  return n;
}

/** The payload `falc eval` runs, from its flags; usage and input errors are one line each (exit 2). */
export function payloadFromFlags(f: EvalFlags): EvalPayload {
  if (f.code !== undefined && f.file !== undefined) throw usageError("give FILE or -c CODE, not both");
  let code: string;
  if (f.code !== undefined) code = f.code;
  else if (f.file === "-") code = readInput(0).toString("utf8");
  else if (f.file !== undefined) code = readInput(f.file).toString("utf8");
  else throw usageError("give FILE (or - for stdin) or -c CODE; see falc eval --help");
  if (f.stdinText !== undefined && f.stdinFile !== undefined) throw usageError("give --stdin or --stdin-file, not both");
  const lang = f.lang ?? (f.file && f.file !== "-" ? languageFromFile(f.file) : undefined);
  if (!lang) throw usageError("--lang is required (python3, node, bun, sh, c, cpp, or one from eval.languages)");
  let engine: EvalPayload["engine"];
  if (f.engine !== undefined) {
    const p = engineChoiceSchema.safeParse(f.engine);
    if (!p.success) throw usageError(`--engine must be gvisor, bwrap, docker or auto, got \`${f.engine}\``);
    engine = p.data;
  }
  return {
    code,
    language: lang,
    engine,
    timeout: num("--timeout", f.timeout, 0.1, 3600),
    memory: num("--memory", f.memory, 16, 65536, true),
    limits: { cpu: num("--cpu", f.cpu, 0.1, 3600), pids: num("--pids", f.pids, 1, 4096, true), output_kb: num("--output-kb", f.output, 1, 1024 * 1024, true) },
    stdin: f.stdinText,
    // Any bytes, no argv: the file is read here, not passed on a command line.
    stdin_b64: f.stdinFile !== undefined ? readInput(f.stdinFile).toString("base64") : undefined,
  };
}
