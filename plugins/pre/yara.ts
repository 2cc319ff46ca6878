/**
 * pre: YARA rules over the target through libyara (src/process/analyze/libyara.ts): the built-in rules plus
 * rule files from config, compiled once per worker process. Each matching rule becomes a signature, scored
 * by its meta.score (a Cuckoo3 level, default 8) or 10 when meta.family names a family.
 *
 * Config (process.plugins.yara): rules_dirs: [dirs of *.yar|*.yara], rules: [files], builtin (true),
 * max_size (64 MiB scanned), timeout (60 s per scan).
 *
 * A file listed in `rules` must compile (setup fails naming file:line). A file found in `rules_dirs` that
 * does not compile is left out, the others are used, and every run lists it under errors: one bad file
 * among many must not stop processing. Without libyara the plugin disables itself saying why.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { FormatError } from "../../src/process/analyze/bytes.ts";
import { type RuleSource, Yara, YaraCompileError, YaraUnavailable } from "../../src/process/analyze/libyara.ts";
import { loadTarget } from "../../src/process/analyze/target.ts";
import { BUILTIN_RULES } from "../../src/process/analyze/yara-builtin.ts";
import type { PluginApi, Processor, ScoreLevel } from "../../src/process/plugin.ts";

const LEVELS: ScoreLevel[] = [1, 6, 8, 9, 10];
/** Strings kept per matching rule in pre.json (the count of all of them is kept too). */
const MAX_STRINGS_KEPT = 100;

const strs = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []);

function ruleSources(config: Record<string, unknown>): (RuleSource & { strict: boolean })[] {
  const sources: (RuleSource & { strict: boolean })[] = [];
  if (config.builtin !== false) sources.push({ file: "builtin", text: BUILTIN_RULES, strict: true });
  for (const dir of strs(config.rules_dirs)) {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (e) {
      throw new Error(`yara: cannot read rules_dirs entry ${dir}: ${(e as Error).message}`);
    }
    for (const n of names) if (/\.(yar|yara)$/i.test(n)) sources.push({ file: join(dir, n), strict: false });
  }
  for (const f of strs(config.rules)) sources.push({ file: f, strict: true });
  return sources;
}

export default (api: PluginApi): Processor => {
  let yara: Yara | undefined;
  return {
    kind: "processor",
    NAME: "yara",
    ORDER: 30,
    KEY: "yara",
    STAGE: "pre",
    CATEGORY: ["file"],
    initOnce(config) {
      const sources = ruleSources(config);
      if (!sources.length) throw new api.DisablePlugin("no rules configured");
      try {
        yara = Yara.compile(sources);
      } catch (e) {
        if (e instanceof YaraUnavailable) throw new api.DisablePlugin(e.message);
        if (e instanceof YaraCompileError) throw new Error(`rule file does not compile: ${e.message}`);
        throw e;
      }
      for (const d of yara.disabled) process.stderr.write(`falc: yara: rule file ${d.file} left out: ${d.message}\n`);
      if (!yara.sources.length) throw new api.DisablePlugin("no rule file compiles");
    },
    async start(ctx) {
      if (!yara) throw new api.DisablePlugin("no rules compiled");
      for (const d of yara.disabled) ctx.errors.add(`yara: rule file ${d.file} left out: ${d.message}`);
      const max = typeof ctx.config.max_size === "number" ? ctx.config.max_size : 64 * 1024 * 1024;
      const timeout = typeof ctx.config.timeout === "number" ? ctx.config.timeout : 60;
      let buf: Uint8Array;
      try {
        buf = await loadTarget(ctx);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        ctx.errors.add(`yara: ${e.message}`);
        return undefined;
      }
      const res = yara.scanBytes(buf.length > max ? buf.subarray(0, max) : buf, timeout);
      if (res.timed_out) ctx.errors.add(`yara: scan timed out after ${timeout} s; matches so far are kept`);
      const matches = res.matches.map((m) => ({ ...m, strings: m.strings.slice(0, MAX_STRINGS_KEPT), strings_total: m.strings.length }));
      for (const m of res.matches) {
        const family = typeof m.meta.family === "string" ? m.meta.family : undefined;
        const s = Number(m.meta.score);
        const score: ScoreLevel = family ? 10 : LEVELS.includes(s as ScoreLevel) ? (s as ScoreLevel) : 8;
        ctx.signatures.add({
          name: `yara_${m.rule}`,
          short_description: typeof m.meta.description === "string" ? m.meta.description : `YARA rule ${m.rule} matched`,
          score,
          family,
          tags: m.tags,
          iocs: m.strings.slice(0, 10).map(({ id, offset, data }) => ({ id, offset, data })),
        });
      }
      return {
        matches,
        console: res.console,
        rule_files: yara.sources,
        disabled_rule_files: yara.disabled.map((d) => ({ file: d.file, errors: d.errors })),
        scanned_bytes: Math.min(buf.length, max),
      };
    },
  };
};
