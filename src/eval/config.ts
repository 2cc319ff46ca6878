import { z } from "zod";
import { configSection, type Config } from "../core/config.ts";
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
    /** Extra or replaced languages: name → {argv, file}. */
    languages: z.record(z.string().regex(/^[a-z0-9_+-]{1,32}$/), languageSchema).default({}),
    tmp_dir: z.string().min(1).optional(),
  })
  .strict();

export interface EvalSettings {
  engine: EngineChoice;
  order: EngineName[];
  fallback: boolean;
  limits: LimitsInput;
  languages: Record<string, Language>;
  tmpDir?: string;
}

export function evalSettings(cfg: Config): EvalSettings {
  const c = configSection(cfg, "eval", evalConfigSchema);
  return { engine: c.engine, order: c.order, fallback: c.fallback, limits: c.limits, languages: { ...DEFAULT_LANGUAGES, ...c.languages }, tmpDir: c.tmp_dir };
}
