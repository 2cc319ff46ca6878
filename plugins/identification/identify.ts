/**
 * identification: file type, hashes and platforms of the submission; an archive is unpacked into the run's
 * scratch directory (password from this plugin's config or the analysis settings, then "infected")
 * and the target selected inside it. The framework lifts identified/selected/category/target/ignored
 * to the top of identification.json.
 *
 * Config (process.plugins.identify): password, passwords: [..], max_depth, unpacking limits
 * (max_entries, max_entry_size, max_total_size, max_ratio), threads (false; true puts md5 and sha512 on
 * threads of their own: a win on idle cores, a loss on a busy 2-vCPU machine, where it was measured).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { identify } from "../../src/process/analyze/identify.ts";
import { heldBytes, passwordsFrom } from "../../src/process/analyze/target.ts";
import { DEFAULT_UNPACK_LIMITS, type UnpackLimits } from "../../src/process/analyze/libarchive.ts";
import type { FileTarget, PluginApi, ProcessingContext, Processor } from "../../src/process/plugin.ts";

/** The analysis settings' password (analysis.json settings.password), when the submitter gave one. */
function settingsPassword(ctx: ProcessingContext): string | undefined {
  if (ctx.settings) return ctx.settings.password || undefined;
  try {
    const a = JSON.parse(readFileSync(join(ctx.analysisDir, "analysis.json"), "utf8")) as { settings?: { password?: unknown } };
    return typeof a.settings?.password === "string" ? a.settings.password : undefined;
  } catch {
    return undefined;
  }
}

function limitsFrom(config: Record<string, unknown>): UnpackLimits {
  const num = (k: string, d: number) => (typeof config[k] === "number" && (config[k] as number) > 0 ? (config[k] as number) : d);
  return {
    maxEntries: num("max_entries", DEFAULT_UNPACK_LIMITS.maxEntries),
    maxEntrySize: num("max_entry_size", DEFAULT_UNPACK_LIMITS.maxEntrySize),
    maxTotalSize: num("max_total_size", DEFAULT_UNPACK_LIMITS.maxTotalSize),
    maxRatio: num("max_ratio", DEFAULT_UNPACK_LIMITS.maxRatio),
  };
}

export default (api: PluginApi): Processor => ({
  kind: "processor",
  NAME: "identify",
  ORDER: 1,
  KEY: "identify",
  STAGE: "identification",
  CATEGORY: ["file"],
  async start(ctx) {
    const target = ctx.target as FileTarget;
    if (target.category !== "file") throw new api.DisablePlugin("not a file");
    // The submission's hashes, computed from the stored bytes as they were stored: not computed twice.
    const known = target.md5 && target.sha1 && target.sha512 ? { md5: target.md5, sha1: target.sha1, sha256: target.sha256, sha512: target.sha512, size: target.size } : undefined;
    let result;
    try {
      result = await identify(target.path, target.filename, {
        known,
        bytes: heldBytes(target.path),
        passwords: passwordsFrom(ctx.config, [settingsPassword(ctx)]),
        limits: limitsFrom(ctx.config),
        maxDepth: typeof ctx.config.max_depth === "number" ? ctx.config.max_depth : 3,
        workDir: ctx.workDir,
        signal: ctx.signal,
        threads: ctx.config.threads === true,
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new api.CancelProcessing(`submitted file ${target.path} does not exist`);
      throw e;
    }
    for (const err of result.errors) ctx.errors.add(`identify: ${err}`);
    const { errors: _errors, ...data } = result;
    return data;
  },
});
