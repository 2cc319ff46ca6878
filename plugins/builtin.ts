import type { PluginFactory } from "../src/process/plugin.ts";
import identify from "./identification/identify.ts";
import behaviour from "./post/behaviour.ts";
import network from "./post/network.ts";
import behaviourSignatures from "./post/signatures.ts";
import staticSignatures from "./pre/signatures.ts";
import staticAnalysis from "./pre/static.ts";
import strings from "./pre/strings.ts";
import yara from "./pre/yara.ts";

export const builtinPlugins: PluginFactory[] = [identify, staticAnalysis, strings, yara, staticSignatures, behaviour, network, behaviourSignatures];
