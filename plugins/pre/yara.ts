/**
 * pre: YARA-style rules over the target (falc's YARA subset, see src/process/analyze/yara.ts): the
 * built-in rules plus rule files from config. Each matching rule becomes a signature, scored by its
 * meta.score (a Cuckoo3 level, default 8) or 10 when meta.family names a family.
 *
 * Config (process.plugins.yara): rules_dirs: [dirs of *.yar|*.yara], rules: [files], builtin (true),
 * max_size (64 MiB scanned).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "../../src/process/analyze/bytes.ts";
import { loadTarget } from "../../src/process/analyze/target.ts";
import { BUILTIN_RULES } from "../../src/process/analyze/yara-builtin.ts";
import { YaraRules } from "../../src/process/analyze/yara.ts";
import type { PluginApi, Processor, ScoreLevel } from "../../src/process/plugin.ts";

const LEVELS: ScoreLevel[] = [1, 6, 8, 9, 10];

function ruleFiles(config: Record<string, unknown>): string[] {
  const files: string[] = [];
  const strs = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []);
  for (const dir of strs(config.rules_dirs)) {
    for (const n of readdirSync(dir).sort()) if (/\.(yar|yara)$/i.test(n)) files.push(join(dir, n));
  }
  files.push(...strs(config.rules));
  return files;
}

export default (api: PluginApi): Processor => {
  let rules: YaraRules | undefined;
  return {
    kind: "processor",
    NAME: "yara",
    ORDER: 30,
    KEY: "yara",
    STAGE: "pre",
    CATEGORY: ["file"],
    initOnce(config) {
      const sources = config.builtin === false ? [] : [{ text: BUILTIN_RULES, file: "builtin" }];
      for (const f of ruleFiles(config)) {
        let text: string;
        try {
          text = readFileSync(f, "utf8");
        } catch (e) {
          throw new Error(`yara: cannot read rule file ${f}: ${(e as Error).message}`);
        }
        sources.push({ text, file: f });
      }
      // A bad rule file stops the worker at setup with the file and line, not at the first sample.
      rules = YaraRules.fromSources(sources);
    },
    start(ctx) {
      if (!rules) throw new api.DisablePlugin("no rules compiled");
      if (!rules.rules.length) throw new api.DisablePlugin("no rules");
      const max = typeof ctx.config.max_size === "number" ? ctx.config.max_size : 64 * 1024 * 1024;
      let buf: Uint8Array;
      try {
        buf = loadTarget(ctx);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        ctx.errors.add(`yara: ${e.message}`);
        return undefined;
      }
      const matches = rules.scan(buf.length > max ? buf.subarray(0, max) : buf, {}, buf.length);
      for (const m of matches) {
        const family = typeof m.meta.family === "string" ? m.meta.family : undefined;
        const s = Number(m.meta.score);
        const score: ScoreLevel = family ? 10 : LEVELS.includes(s as ScoreLevel) ? (s as ScoreLevel) : 8;
        ctx.signatures.add({
          name: `yara_${m.rule}`,
          short_description: typeof m.meta.description === "string" ? m.meta.description : `YARA rule ${m.rule} matched`,
          score,
          family,
          tags: m.tags,
          iocs: m.strings.slice(0, 10),
        });
      }
      return { matches, rules: rules.rules.length, scanned_bytes: Math.min(buf.length, max) };
    },
  };
};
