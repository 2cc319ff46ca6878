import type { EngineName } from "../types.ts";
import type { Engine } from "./engine.ts";
import { bwrapEngine } from "./bwrap.ts";
import { gvisorEngine } from "./gvisor.ts";
import { dockerEngine } from "./docker.ts";

export const ENGINES: Record<EngineName, Engine> = { gvisor: gvisorEngine, bwrap: bwrapEngine, docker: dockerEngine };
export const DEFAULT_ORDER: EngineName[] = ["gvisor", "bwrap", "docker"];
