import type { PluginFactory } from "../src/process/plugin.ts";
import fallbackIdentify from "./identification/fallback.ts";
import jsonDump from "./reporting/json.ts";
import htmlReport from "./reporting/html.ts";

/**
 * The built-in plugins, bundled into dist/falc and loaded through the same factory API as a user's
 * plugin directory. Each plugin module adds its factory here, one line each.
 */
export const builtinPlugins: PluginFactory[] = [
  fallbackIdentify,
  jsonDump,
  htmlReport,
];
