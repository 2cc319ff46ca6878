import type { StageHandler } from "../core/stage.ts";

/**
 * Built-in stages, each loaded on first use. Each issue that builds a stage adds its line here:
 *   scan: () => import("../scan/stage.ts").then((m) => m.scanStage),
 */
export const builtinStages: Record<string, () => Promise<StageHandler>> = {
  noop: () => import("./noop.ts").then((m) => m.noopStage),
  eval: () => import("../eval/stage.ts").then((m) => m.evalStage),
  scan: () => import("../scan/stage.ts").then((m) => m.scanStage),
  identification: () => import("../process/stages.ts").then((m) => m.identificationStage),
  pre: () => import("../process/stages.ts").then((m) => m.preStage),
  post: () => import("../process/stages.ts").then((m) => m.postStage),
};
