import { z } from "zod";
import { engineChoiceSchema } from "./types.ts";
import { limitsInputSchema } from "./limits.ts";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Schema bound on stdin (the operator's eval.max_limits.stdin_kb is the real limit, checked after). */
const STDIN_SCHEMA_MAX = 64 * 1024 * 1024;

/** One evaluation as a task payload (queue, HTTP, `falc tasks submit eval`). */
export const evalPayloadObject = z
  .object({
    eval_id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/).optional(),
    code: z.string().max(1024 * 1024),
    language: z.string().min(1).max(32),
    engine: engineChoiceSchema.optional(),
    /** Seconds of wall time. */
    timeout: z.number().positive().max(3600).optional(),
    /** MB. */
    memory: z.number().int().min(16).max(65536).optional(),
    limits: limitsInputSchema.optional(),
    /** Text fed to the program's stdin. */
    stdin: z.string().max(STDIN_SCHEMA_MAX).optional(),
    /** Bytes fed to the program's stdin, base64 (any bytes, NUL included). */
    stdin_b64: z.string().max(Math.ceil(STDIN_SCHEMA_MAX / 3) * 4).regex(BASE64, "must be base64").optional(),
  })
  .strict();
export const oneStdin: [(p: { stdin?: string; stdin_b64?: string }) => boolean, { message: string; path: string[] }] = [
  (p) => p.stdin === undefined || p.stdin_b64 === undefined,
  { message: "give stdin or stdin_b64, not both", path: ["stdin_b64"] },
];
export const evalPayloadSchema = evalPayloadObject.refine(...oneStdin);
export type EvalPayload = z.infer<typeof evalPayloadSchema>;

/** The program's stdin as bytes, or undefined for none. */
export function payloadStdin(p: Pick<EvalPayload, "stdin" | "stdin_b64">): Uint8Array | undefined {
  if (p.stdin_b64 !== undefined) return new Uint8Array(Buffer.from(p.stdin_b64, "base64"));
  if (p.stdin !== undefined) return new TextEncoder().encode(p.stdin);
  return undefined;
}

/** Size in bytes of the stdin a payload carries (without decoding it). */
export function payloadStdinBytes(p: Pick<EvalPayload, "stdin" | "stdin_b64">): number {
  if (p.stdin_b64 !== undefined) return Math.floor((p.stdin_b64.length * 3) / 4) - (p.stdin_b64.endsWith("==") ? 2 : p.stdin_b64.endsWith("=") ? 1 : 0);
  return p.stdin !== undefined ? Buffer.byteLength(p.stdin) : 0;
}
