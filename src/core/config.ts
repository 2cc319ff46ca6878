import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { configError } from "./errors.ts";
import { falcHome } from "./paths.ts";

const logLevel = z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]);
/** Sections owned by a stage (scan, sync, eval, process) are validated by that stage's own schema. */
const section = z.record(z.string(), z.unknown());

export const configSchema = z
  .object({
    home: z.string().min(1).optional(),
    /** This node's identity in a cluster (default: host name + a hash of FALC_HOME); FALC_NODE. */
    node: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "letters, digits, . _ - (up to 64), starting with a letter or digit").optional(),
    /** "sqlite" (default, FALC_HOME/queue.sqlite), "sqlite:/path/to/db", or "redis://host:port/db". */
    queue: z.string().min(1).default("sqlite"),
    log_level: logLevel.default("info"),
    health_port: z.number().int().min(0).max(65535).default(8082),
    stage_paths: z.array(z.string().min(1)).default([]),
    /** Worker processes per stage for `falc worker`. */
    workers: z.record(z.string(), z.number().int().min(1).max(256)).default({}),
    /** Seconds a task may run before its worker is killed, per stage; "default" applies to the rest. */
    task_timeout: z.record(z.string(), z.number().positive()).default({}),
    max_attempts: z.number().int().min(1).max(100).default(3),
    scope: section.optional(),
    scan: section.optional(),
    sync: section.optional(),
    eval: section.optional(),
    process: section.optional(),
  })
  .strict();

export type Config = z.infer<typeof configSchema> & { home: string; source: string | null };

export interface ConfigOverrides {
  configPath?: string;
  queue?: string;
  home?: string;
  logLevel?: string;
  healthPort?: number;
  stagePaths?: string[];
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.length ? issue.path.join(".") : "(top level)";
  if (issue.code === "unrecognized_keys") return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `\`${k}\``).join(", ")}`;
  return `key \`${key}\`: ${issue.message}`;
}

/** Validate a raw object; errors name the key and where it came from. */
export function validateConfig(raw: unknown, source: string): z.infer<typeof configSchema> {
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw configError(`${source}: ${describeIssue(first)}`, { source, issues: parsed.error.issues.map(describeIssue) });
  }
  return parsed.data;
}

function readYaml(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw configError(`${path}: cannot read config file (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    const doc = parseYaml(text);
    if (doc !== null && doc !== undefined && (typeof doc !== "object" || Array.isArray(doc)))
      throw configError(`${path}: the config must be a mapping of keys, not a ${Array.isArray(doc) ? "list" : typeof doc}`);
    return doc ?? {};
  } catch (e) {
    if (e instanceof YAMLParseError) {
      const pos = e.linePos?.[0];
      throw configError(`${path}${pos ? `:${pos.line}:${pos.col}` : ""}: invalid YAML: ${e.message.split("\n")[0]}`);
    }
    throw e;
  }
}

function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (env.FALC_QUEUE) out.queue = env.FALC_QUEUE;
  if (env.FALC_NODE) out.node = env.FALC_NODE;
  if (env.FALC_LOG_LEVEL) out.log_level = env.FALC_LOG_LEVEL;
  if (env.FALC_HEALTH_PORT) {
    const n = Number(env.FALC_HEALTH_PORT);
    out.health_port = Number.isInteger(n) ? n : env.FALC_HEALTH_PORT;
  }
  if (env.FALC_STAGE_PATH) out.stage_paths = env.FALC_STAGE_PATH.split(":").filter(Boolean);
  return out;
}

/**
 * Defaults < falc.yaml (--config, FALC_CONFIG, or ./falc.yaml when present) < FALC_* env < flags.
 * Each layer is validated on its own so an error names the layer that caused it.
 */
export function loadConfig(over: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const explicit = over.configPath ?? env.FALC_CONFIG;
  let path: string | null = null;
  if (explicit) {
    path = resolve(explicit);
    if (!existsSync(path)) throw configError(`${path}: config file not found (from ${over.configPath ? "--config" : "FALC_CONFIG"})`);
  } else if (existsSync("falc.yaml")) {
    path = resolve("falc.yaml");
  }
  const fileRaw = path ? (readYaml(path) as Record<string, unknown>) : {};
  validateConfig(fileRaw, path ?? "defaults");
  const envRaw = envOverrides(env);
  validateConfig(envRaw, "environment (FALC_*)");
  const flagRaw: Record<string, unknown> = {};
  if (over.queue !== undefined) flagRaw.queue = over.queue;
  if (over.logLevel !== undefined) flagRaw.log_level = over.logLevel;
  if (over.healthPort !== undefined) flagRaw.health_port = over.healthPort;
  if (over.stagePaths?.length) flagRaw.stage_paths = over.stagePaths;
  validateConfig(flagRaw, "command-line flags");
  const merged = validateConfig({ ...fileRaw, ...envRaw, ...flagRaw }, path ?? "config");
  const home = over.home ?? (env.FALC_HOME ? falcHome(env) : merged.home ? resolve(merged.home) : falcHome(env));
  return { ...merged, home, source: path };
}

/** Parse a stage-owned config section with its own schema, naming the key on error. */
export function configSection<T extends z.ZodType>(cfg: Config, name: "scope" | "scan" | "sync" | "eval" | "process", schema: T): z.infer<T> {
  const parsed = schema.safeParse(cfg[name] ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = [name, ...issue.path.map(String)].join(".");
    throw configError(`${cfg.source ?? "config"}: key \`${key}\`: ${issue.message}`);
  }
  return parsed.data;
}
