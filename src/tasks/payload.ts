import { readFileSync } from "node:fs";
import { inputError } from "../core/errors.ts";
import type { StageHandler } from "../core/stage.ts";

/** `--payload JSON` or `--payload @file` (or @- for stdin) → a value. */
export function readPayloadArg(arg: string | undefined): unknown {
  if (arg === undefined) return null;
  let text = arg;
  let from = "--payload";
  if (arg.startsWith("@")) {
    const path = arg.slice(1);
    from = path === "-" ? "standard input" : path;
    try {
      text = readFileSync(path === "-" ? 0 : path, "utf8");
    } catch (e) {
      throw inputError(`cannot read payload file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw inputError(`payload from ${from} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Check a payload against the stage's schema, naming the first bad field. */
export function validatePayload<P>(stage: StageHandler<P>, payload: unknown): P {
  const r = stage.payloadSchema.safeParse(payload);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const at = issue.path.length ? `field \`${issue.path.join(".")}\`` : "the payload";
  throw inputError(`payload for stage \`${stage.name}\` does not fit: ${at}: ${issue.message}`);
}
