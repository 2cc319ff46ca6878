import type { PluginFactory } from "../src/process/plugin.ts";
import identify from "./identification/identify.ts";
import staticAnalysis from "./pre/static.ts";
import strings from "./pre/strings.ts";
import yara from "./pre/yara.ts";
import staticSignatures from "./pre/signatures.ts";
import behaviour from "./post/behaviour.ts";
import network from "./post/network.ts";
import behaviourSignatures from "./post/signatures.ts";
import jsonDump from "./reporting/json.ts";
import htmlReport from "./reporting/html.ts";

/**
 * The built-in plugins, bundled into dist/falc and loaded through the same factory API as a user's
 * plugin directory. Each plugin module adds its factory here, one line each.
 * (plugins/identification/fallback.ts stays out: `identify` does its job; the flow tests use it alone.)
 */
export const builtinPlugins: PluginFactory[] = [
  identify,
  staticAnalysis,
  strings,
  yara,
  staticSignatures,
  behaviour,
  network,
  behaviourSignatures,
  jsonDump,
  htmlReport,
];
