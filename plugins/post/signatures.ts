/**
 * post: the built-in behaviour and network signatures (see src/process/analyze/signatures.ts).
 * Config (process.plugins.behaviour_signatures): many_domains (10) distinct names for "many DNS domains".
 */
import { behaviourSignatures } from "../../src/process/analyze/signatures.ts";
import type { PluginApi, Processor } from "../../src/process/plugin.ts";

export default (_api: PluginApi): Processor => ({
  kind: "processor",
  NAME: "behaviour_signatures",
  ORDER: 900,
  KEY: "behaviour_signatures",
  STAGE: "post",
  CATEGORY: ["file", "url"],
  start(ctx) {
    const many = typeof ctx.config.many_domains === "number" ? ctx.config.many_domains : undefined;
    for (const s of behaviourSignatures({ behaviour: ctx.results.behaviour as never, network: ctx.results.network as never, manyDomains: many })) ctx.signatures.add(s);
    return undefined;
  },
});
