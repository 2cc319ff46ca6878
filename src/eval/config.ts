import { z } from "zod";
import { configSection, type Config } from "../core/config.ts";
import { configError } from "../core/errors.ts";
import { DEFAULT_MAX_LIMITS, defaultsOverCeilings, maxLimitsSchema, overMaxSchema, violationText, type MaxLimits, type OverMax } from "./ceilings.ts";
import { DEFAULT_LANGUAGES, languageSchema, type Language } from "./languages.ts";
import { limitsInputSchema, type LimitsInput } from "./limits.ts";
import { DEFAULT_ORDER } from "./engines/index.ts";
import { engineChoiceSchema, ENGINE_NAMES, type EngineChoice, type EngineName } from "./types.ts";

/** The `eval:` section of falc.yaml. */
export const evalConfigSchema = z
  .object({
    /** Engine when a task or flag does not say: auto tries `order`. */
    engine: engineChoiceSchema.default("auto"),
    order: z.array(z.enum(ENGINE_NAMES)).min(1).default(DEFAULT_ORDER),
    /** Fall back along `order` when an explicitly chosen engine is unavailable (auto always does). */
    fallback: z.boolean().default(false),
    limits: limitsInputSchema.default({}),
    /** Ceilings on what a task or flag may ask for (see ceilings.ts for the defaults). */
    max_limits: maxLimitsSchema.default({ ...DEFAULT_MAX_LIMITS }),
    /** A flag or queued task over a ceiling: refuse it (default) or clamp it to the ceiling. */
    over_max: overMaxSchema.default("refuse"),
    /** Extra or replaced languages: name → {argv, file}. */
    languages: z.record(z.string().regex(/^[a-z0-9_+-]{1,32}$/), languageSchema).default({}),
    tmp_dir: z.string().min(1).optional(),
    /** gVisor sandboxes kept booted by long-running workers (pull worker, `falc worker --stage eval`); 0 turns the pool off. The CLI never pools. */
    gvisor_pool: z.number().int().min(0).max(64).default(2),
  })
  .strict();

export interface EvalSettings {
  engine: EngineChoice;
  order: EngineName[];
  fallback: boolean;
  limits: LimitsInput;
  maxLimits: MaxLimits;
  overMax: OverMax;
  languages: Record<string, Language>;
  tmpDir?: string;
  gvisorPool: number;
}

export function evalSettings(cfg: Config): EvalSettings {
  const c = configSection(cfg, "eval", evalConfigSchema);
  const bad = defaultsOverCeilings(c.limits, c.max_limits);
  if (bad.length) throw configError(`${cfg.source ?? "config"}: ${violationText(bad[0]!)}: raise eval.max_limits or lower eval.limits`);
  return { engine: c.engine, order: c.order, fallback: c.fallback, limits: c.limits, maxLimits: c.max_limits, overMax: c.over_max, languages: { ...DEFAULT_LANGUAGES, ...c.languages }, tmpDir: c.tmp_dir, gvisorPool: c.gvisor_pool };
}
