import { z } from "zod";
import { engineChoiceSchema } from "./types.ts";
import { limitsInputSchema } from "./limits.ts";

/** One evaluation as a task payload (queue, HTTP, `falc tasks submit eval`). */
export const evalPayloadSchema = z
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
    stdin: z.string().max(1024 * 1024).optional(),
  })
  .strict();
export type EvalPayload = z.infer<typeof evalPayloadSchema>;
