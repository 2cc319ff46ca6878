import { z } from "zod";
import type { StageHandler } from "../core/stage.ts";

/** Does nothing and returns its payload: for smoke tests and the dispatch benchmark. */
export const noopStage: StageHandler<unknown, unknown> = {
  name: "noop",
  description: "does nothing and returns its payload (smoke tests, benchmarks)",
  payloadSchema: z.unknown(),
  defaultTimeoutS: 60,
  async run(payload) {
    return payload ?? null;
  },
};
