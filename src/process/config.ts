import { z } from "zod";
import { configSection, type Config } from "../core/config.ts";
import { platformSchema } from "./schemas.ts";

/** `process:` in falc.yaml. */
export const processConfigSchema = z
  .object({
    /** Directories of user plugin modules (each `*.ts`/`*.js` file: `export default (api) => Plugin | Plugin[]`). */
    plugin_dirs: z.array(z.string().min(1)).default([]),
    /** Plugin NAMEs to leave out (built-in or not), e.g. to replace a built-in with one of the same KEY. */
    disable: z.array(z.string().min(1)).default([]),
    /** Each plugin's own settings, by NAME; a plugin gets its section as ctx.config / enabled(config). */
    plugins: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
    /** Used when neither the submission nor identification names a platform (Cuckoo3's default_platform). */
    default_platform: platformSchema.default({ platform: "windows", os_version: "10" }),
    /** An unidentified target with nothing selected ends `no_selected` instead of going on to pre. */
    cancel_unidentified: z.boolean().default(false),
    /** Analysis timeout (s) written into analysis.json settings for the machine that runs a task. */
    timeout: z.number().int().min(1).max(86400).default(120),
    /** Processes `falc process FILE...` shares many files among (0 = one per CPU core, up to 4; 1 = this one only). */
    local_processes: z.number().int().min(0).max(64).default(0),
  })
  .strict();
export type ProcessConfig = z.infer<typeof processConfigSchema>;

/** The config's section plus FALC_PLUGIN_DIR (colon-separated) and --plugin-dir flags. */
export function processConfig(cfg: Config, extraDirs: string[] = [], env: NodeJS.ProcessEnv = process.env): ProcessConfig {
  const c = configSection(cfg, "process", processConfigSchema);
  const fromEnv = (env.FALC_PLUGIN_DIR ?? "").split(":").filter(Boolean);
  return { ...c, plugin_dirs: [...new Set([...c.plugin_dirs, ...fromEnv, ...extraDirs])] };
}
