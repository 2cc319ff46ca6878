import { availableParallelism, totalmem } from "node:os";
import { z } from "zod";
import { configSection, type Config } from "../core/config.ts";
import { IMPORT_MODES } from "./ledger.ts";
import { compileScope, scopeSchema, type Scope } from "./targets.ts";

/** `scan:` section of falc.yaml. */
export const scanConfigSchema = z
  .object({
    /** Most addresses one `falc scan` may expand to; bigger ranges are refused. */
    max_targets: z.number().int().min(1).max(16_777_216).default(65_536),
    /** Targets scanned at once by a local run. */
    parallel: z.number().int().min(1).max(256).default(8),
    /** The nmap binary. */
    nmap: z.string().min(1).default("nmap"),
    /** How results enter the ledger. */
    mode: z.enum(IMPORT_MODES).default("update"),
    /**
     * Most nmap processes one local run keeps at once (sweeps and service scans together); each
     * `-sV` holds ≈30-50 MB. Default: 4 per core, at most one per 128 MB of memory.
     */
    max_nmap: z.number().int().min(1).max(1024).optional(),
    /** Lock time-to-live; renewed while a target is being scanned. */
    lock_ttl_s: z.number().int().min(5).max(3600).default(60),
  })
  .strict();
export type ScanConfig = z.infer<typeof scanConfigSchema>;

export function scanConfig(cfg: Config): ScanConfig {
  return configSection(cfg, "scan", scanConfigSchema);
}

/** scan.max_nmap, or the default for this machine's cores and memory. */
export function maxNmap(cfg: ScanConfig): number {
  return cfg.max_nmap ?? Math.max(2, Math.min(4 * availableParallelism(), Math.floor(totalmem() / (128 * 1024 * 1024))));
}

export function scopeOf(cfg: Config): Scope {
  return compileScope(configSection(cfg, "scope", scopeSchema));
}
