import { hostname } from "node:os";
import { z } from "zod";
import { configSection, type Config } from "../core/config.ts";
import { usageError } from "../core/errors.ts";
import { groupDefSchema, GROUP_RE } from "./groups.ts";
import { DEFAULT_LIMITS, type SessionLimits } from "./session.ts";
import { NODE_NAME_RE } from "./protocol.ts";

export const DEFAULT_PORT = 1516;

/** The `sync:` section of falc.yaml; flags override it. */
export const syncConfigSchema = z
  .object({
    listen: z.string().min(1).default(`0.0.0.0:${DEFAULT_PORT}`),
    master: z.string().min(1).optional(),
    dir: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
    name: z.string().regex(NODE_NAME_RE, "node names are letters, digits, _ . - (up to 64)").optional(),
    cluster: z.string().regex(NODE_NAME_RE, "cluster names are letters, digits, _ . - (up to 64)").default("falc"),
    exclude: z.array(z.string().min(1).max(300)).max(1000).default([]),
    keepalive_s: z.number().positive().max(3600).default(10),
    drop_after_s: z.number().positive().max(86400).default(30),
    interval_s: z.number().positive().max(86400).default(10),
    mismatch_limit: z.number().int().min(1).max(1000).default(3),
    reconnect_max_s: z.number().positive().max(3600).default(30),
    preauth_s: z.number().positive().max(600).default(5),
    /** Unauthenticated connections at once, in total and per source address; past either, the oldest are cut. */
    max_handshakes: z.number().int().min(4).max(10_000).default(64),
    max_handshakes_per_address: z.number().int().min(1).max(10_000).default(8),
    chunk_kb: z.number().int().min(16).max(4096).default(1024),
    /** File data: zstd, none, or auto (zstd unless the worker is on this machine's loopback). */
    compress: z.enum(["auto", "zstd", "none"]).default("auto"),
    groups: z.record(z.string().regex(GROUP_RE), groupDefSchema).default({}),
  })
  .strict();
export type SyncConfig = z.infer<typeof syncConfigSchema>;

export function syncConfig(cfg: Config): SyncConfig {
  return configSection(cfg, "sync", syncConfigSchema);
}

export function limitsFor(c: SyncConfig): SessionLimits {
  const chunk = c.chunk_kb * 1024;
  return { ...DEFAULT_LIMITS, chunk, maxFrame: Math.max(DEFAULT_LIMITS.maxFrame, chunk + 4096) };
}

/** `host:port`, `[v6]:port`, or a bare host (default port). */
export function parseHostPort(s: string, flag: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  if (!m) throw usageError(`${flag} must be HOST:PORT, got \`${s}\``);
  const port = m[2] === undefined ? DEFAULT_PORT : Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`${flag}: port must be 0-65535, got \`${m[2]}\``);
  return { host: m[1]!, port };
}

export function parseSeconds(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86400) throw usageError(`${flag} must be a number of seconds above 0, got \`${v}\``);
  return n;
}

export function defaultNodeName(): string {
  const h = hostname().replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return (h || "node").slice(0, 64);
}

export function checkNodeName(name: string, flag = "--name"): string {
  if (!NODE_NAME_RE.test(name)) throw usageError(`${flag} \`${name.slice(0, 70)}\`: node names are letters, digits, _ . - (up to 64), starting with a letter or digit`);
  return name;
}
