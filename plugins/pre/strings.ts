/**
 * pre: printable ASCII and UTF-16LE strings of the target (counts and a capped sample) and the IOCs in
 * them: URLs, domains, IPv4 addresses, e-mail addresses, registry keys.
 *
 * Config (process.plugins.strings): min_length (5), max_bytes (8 MiB scanned from the start), sample_size (200),
 * max_ioc_chars (2 MiB of strings through the IOC patterns), ioc_cap (200 per kind), threads (false; true splits
 * the scan of a large target over two threads).
 */
import { FormatError } from "../../src/process/analyze/bytes.ts";
import { STRINGS_DEFAULTS, extractStringsParallel } from "../../src/process/analyze/strings.ts";
import { loadTarget } from "../../src/process/analyze/target.ts";
import type { PluginApi, Processor } from "../../src/process/plugin.ts";

export default (_api: PluginApi): Processor => ({
  kind: "processor",
  NAME: "strings",
  ORDER: 20,
  KEY: "strings",
  STAGE: "pre",
  CATEGORY: ["file"],
  async start(ctx) {
    const num = (k: string, d: number) => (typeof ctx.config[k] === "number" && (ctx.config[k] as number) >= 0 ? (ctx.config[k] as number) : d);
    try {
      return await extractStringsParallel(await loadTarget(ctx), {
        minLength: num("min_length", STRINGS_DEFAULTS.minLength),
        maxBytes: num("max_bytes", STRINGS_DEFAULTS.maxBytes),
        sampleSize: num("sample_size", STRINGS_DEFAULTS.sampleSize),
        maxIocChars: num("max_ioc_chars", STRINGS_DEFAULTS.maxIocChars),
        iocCap: num("ioc_cap", STRINGS_DEFAULTS.iocCap),
        threads: ctx.config.threads === true,
      });
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      ctx.errors.add(`strings: ${e.message}`);
      return undefined;
    }
  },
});
