import { readdirSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { configError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { ProcessConfig } from "./config.ts";
import { writeReporterFile } from "./durable.ts";
import { CancelProcessing, DisablePlugin, type Category, type Plugin, type PluginApi, type PluginFactory, type ProcessingStage, type Processor, type Reporter } from "./plugin.ts";

// Reporters' files are made durable with the stage's other writes when it commits.
export const pluginApi: PluginApi = { z, DisablePlugin, CancelProcessing, writeFileAtomic: writeReporterFile };

/** Keys the core writes into every stage document: no processor may store its result there. */
export const RESERVED_KEYS = new Set([
  "errors", "signatures", "score", "target", "category", "analysis_id", "task_id",
  "families", "tags", "ttps", "identified", "selected", "ignored", "platforms",
]);

const fn = z.custom<(...a: unknown[]) => unknown>((v) => typeof v === "function", "must be a function");
const name = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, "must be 1-64 letters, digits, _ . - starting with a letter");
const categories = z.array(z.enum(["file", "url"])).min(1);

const processorShape = z.looseObject({
  kind: z.literal("processor"),
  NAME: name,
  ORDER: z.number().finite(),
  KEY: name,
  STAGE: z.enum(["identification", "pre", "post"]),
  CATEGORY: categories,
  PLATFORMS: z.array(z.string()).optional(),
  enabled: fn.optional(),
  initOnce: fn.optional(),
  init: fn.optional(),
  start: fn,
  cleanup: fn.optional(),
});

const reporterShape = z.looseObject({
  kind: z.literal("reporter"),
  NAME: name,
  ORDER: z.number().finite(),
  CATEGORY: categories.optional(),
  enabled: fn.optional(),
  initOnce: fn.optional(),
  init: fn.optional(),
  reportIdentification: fn.optional(),
  reportPre: fn.optional(),
  reportPost: fn.optional(),
  cleanup: fn.optional(),
});

export interface Loaded<T extends Plugin> {
  plugin: T;
  /** "built-in" or the module's path, for messages. */
  source: string;
}

export interface PluginSource {
  factory: PluginFactory;
  source: string;
}

/** Everything enabled and initialised for one worker process, by stage, in ORDER. */
export class PluginSet {
  constructor(
    readonly processors: Record<ProcessingStage, Loaded<Processor>[]>,
    readonly reporters: Loaded<Reporter>[],
    private pluginConfig: Record<string, Record<string, unknown>>,
  ) {}

  configFor(name: string): Record<string, unknown> {
    return this.pluginConfig[name] ?? {};
  }

  /** The processors that run for this category and these target platforms ([] = not known yet). */
  processorsFor(stage: ProcessingStage, category: Category, platforms: string[]): Loaded<Processor>[] {
    return this.processors[stage].filter(({ plugin: p }) => {
      if (!p.CATEGORY.includes(category)) return false;
      if (!p.PLATFORMS?.length || !platforms.length) return true;
      return p.PLATFORMS.some((x) => platforms.includes(x));
    });
  }

  reportersFor(category: Category): Loaded<Reporter>[] {
    return this.reporters.filter(({ plugin: r }) => !r.CATEGORY?.length || r.CATEGORY.includes(category));
  }

  names(): string[] {
    return [...Object.values(this.processors).flat(), ...this.reporters].map((l) => l.plugin.NAME);
  }
}

export function isDisable(e: unknown): boolean {
  return e instanceof DisablePlugin || (e instanceof Error && e.name === "DisablePlugin");
}

function describe(issue: z.core.$ZodIssue): string {
  return `\`${issue.path.join(".") || "(plugin)"}\` ${issue.message}`;
}

function validate(value: unknown, source: string): Plugin {
  const kind = (value as { kind?: unknown } | null)?.kind;
  const shape = kind === "processor" ? processorShape : kind === "reporter" ? reporterShape : null;
  if (!shape) throw configError(`plugin from ${source}: \`kind\` must be "processor" or "reporter"`);
  const r = shape.safeParse(value);
  const label = `${kind} ${typeof (value as { NAME?: unknown }).NAME === "string" ? (value as { NAME: string }).NAME : "(no NAME)"} from ${source}`;
  if (!r.success) throw configError(`${label}: ${describe(r.error.issues[0]!)}`);
  if (kind === "processor" && RESERVED_KEYS.has((value as Processor).KEY))
    throw configError(`${label}: KEY \`${(value as Processor).KEY}\` is reserved for the stage document (${[...RESERVED_KEYS].join(", ")})`);
  // The object itself, not zod's copy: plugins keep `this` and their own fields.
  return value as Plugin;
}

/** Every `*.ts`/`*.js` module directly in a plugin directory, in name order. */
export function pluginFiles(dir: string): string[] {
  const abs = isAbsolute(dir) ? dir : resolve(dir);
  let st;
  try {
    st = statSync(abs);
  } catch {
    throw configError(`plugin directory ${abs} does not exist`);
  }
  if (!st.isDirectory()) throw configError(`plugin directory ${abs} is not a directory`);
  return readdirSync(abs)
    .filter((f) => /\.(ts|js|mjs|tsx)$/.test(f) && !/\.(test|spec|d)\.[a-z]+$/.test(f) && !f.startsWith(".") && !f.startsWith("_"))
    .sort()
    .map((f) => join(abs, f));
}

async function importFactory(path: string): Promise<PluginFactory> {
  let mod: { default?: unknown };
  try {
    mod = await import(path);
  } catch (e) {
    throw configError(`cannot load plugin module ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (typeof mod.default !== "function") throw configError(`plugin module ${path} must \`export default (api) => Plugin | Plugin[]\``);
  return mod.default as PluginFactory;
}

export interface LoadOptions {
  builtins: PluginFactory[];
  config: ProcessConfig;
  log: Logger;
}

/**
 * Built-ins, then each plugin directory's modules: called through their factory, checked, filtered by
 * `process.disable` and enabled(), checked for duplicate KEYs per stage, then initOnce(). Anything
 * wrong is one configError naming the plugin and its file, so a worker fails at setup, not mid-task.
 */
export async function loadPlugins(opts: LoadOptions): Promise<PluginSet> {
  const sources: PluginSource[] = opts.builtins.map((factory) => ({ factory, source: "built-in" }));
  for (const dir of opts.config.plugin_dirs) for (const file of pluginFiles(dir)) sources.push({ factory: await importFactory(file), source: file });

  const all: Loaded<Plugin>[] = [];
  for (const { factory, source } of sources) {
    let made: Plugin | Plugin[];
    try {
      made = await factory(pluginApi);
    } catch (e) {
      throw configError(`plugin module ${source} failed while loading: ${(e as Error)?.message ?? String(e)}`);
    }
    for (const p of Array.isArray(made) ? made : [made]) all.push({ plugin: validate(p, source), source });
  }

  const disabled = new Set(opts.config.disable);
  const enabled: Loaded<Plugin>[] = [];
  for (const l of all) {
    if (disabled.has(l.plugin.NAME)) continue;
    const cfg = opts.config.plugins[l.plugin.NAME] ?? {};
    try {
      if (l.plugin.enabled && !l.plugin.enabled(cfg)) continue;
    } catch (e) {
      if (isDisable(e)) {
        opts.log.info({ event: "plugin_disabled", plugin: l.plugin.NAME, reason: (e as Error).message }, `plugin ${l.plugin.NAME} disabled`);
        continue;
      }
      throw configError(`plugin ${l.plugin.NAME} (${l.source}): enabled() failed: ${(e as Error)?.message ?? String(e)}`);
    }
    enabled.push(l);
  }

  const byStageKey = new Map<string, Loaded<Plugin>>();
  for (const l of enabled) {
    if (l.plugin.kind !== "processor") continue;
    const k = `${l.plugin.STAGE}\0${l.plugin.KEY}`;
    const first = byStageKey.get(k);
    if (first)
      throw configError(
        `duplicate KEY \`${l.plugin.KEY}\` in stage ${l.plugin.STAGE}: processor ${first.plugin.NAME} (${first.source}) and ${l.plugin.NAME} (${l.source}); ` +
          `rename one, or leave one out with process.disable`,
      );
    byStageKey.set(k, l);
  }

  const ready: Loaded<Plugin>[] = [];
  for (const l of enabled) {
    try {
      await l.plugin.initOnce?.(opts.config.plugins[l.plugin.NAME] ?? {});
    } catch (e) {
      if (isDisable(e)) {
        opts.log.info({ event: "plugin_disabled", plugin: l.plugin.NAME, reason: (e as Error).message }, `plugin ${l.plugin.NAME} disabled`);
        continue;
      }
      throw configError(`plugin ${l.plugin.NAME} (${l.source}): initOnce() failed: ${(e as Error)?.message ?? String(e)}`);
    }
    ready.push(l);
  }

  const byOrder = <T extends Plugin>(a: Loaded<T>, b: Loaded<T>) => a.plugin.ORDER - b.plugin.ORDER || a.plugin.NAME.localeCompare(b.plugin.NAME);
  const processors: Record<ProcessingStage, Loaded<Processor>[]> = { identification: [], pre: [], post: [] };
  const reporters: Loaded<Reporter>[] = [];
  for (const l of ready) {
    if (l.plugin.kind === "processor") processors[l.plugin.STAGE].push(l as Loaded<Processor>);
    else reporters.push(l as Loaded<Reporter>);
  }
  for (const list of Object.values(processors)) list.sort(byOrder);
  reporters.sort(byOrder);
  return new PluginSet(processors, reporters, opts.config.plugins);
}

const cache = new Map<string, Promise<PluginSet>>();

/** Once per process for a given config: enabled() and initOnce() never run twice in a worker. */
export function pluginsOnce(opts: LoadOptions): Promise<PluginSet> {
  const key = JSON.stringify([opts.config.plugin_dirs.map((d) => resolve(d)), opts.config.disable, opts.config.plugins]);
  let p = cache.get(key);
  if (!p) {
    p = loadPlugins(opts);
    // A failed load is not cached: the next setup tries again (the user may have fixed the file).
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}
