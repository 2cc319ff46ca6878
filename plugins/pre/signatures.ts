/** pre: the built-in static signatures over the static and strings results (see src/process/analyze/signatures.ts). */
import { staticSignatures } from "../../src/process/analyze/signatures.ts";
import type { PluginApi, Processor } from "../../src/process/plugin.ts";

export default (_api: PluginApi): Processor => ({
  kind: "processor",
  NAME: "static_signatures",
  ORDER: 900,
  KEY: "static_signatures",
  STAGE: "pre",
  CATEGORY: ["file"],
  start(ctx) {
    for (const s of staticSignatures({ static: ctx.results.static as never, strings: ctx.results.strings as never })) ctx.signatures.add(s);
    return undefined;
  },
});
