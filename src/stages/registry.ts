import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { usageError, configError } from "../core/errors.ts";
import { STAGE_NAME } from "../core/task.ts";
import { stageApi, type StageHandler } from "../core/stage.ts";
import { builtinStages } from "./builtin.ts";

/**
 * Stages by name: the built-ins (loaded lazily so `falc scan` never loads the eval engines)
 * and user stage modules from `stage_paths` / `--stage-path`.
 */
export class StageRegistry {
  private loaders = new Map<string, () => Promise<StageHandler>>();
  private cache = new Map<string, Promise<StageHandler>>();
  private userPaths: string[] = [];

  constructor() {
    for (const [name, load] of Object.entries(builtinStages)) this.loaders.set(name, load);
  }

  /** Load user stage files now, so a broken file fails at start-up with its path. */
  async addPaths(paths: string[]): Promise<void> {
    for (const p of paths) {
      const abs = isAbsolute(p) ? p : resolve(p);
      if (!existsSync(abs)) throw configError(`stage module ${abs} does not exist`);
      const handler = await loadStageModule(abs);
      // A user module may replace a built-in of the same name on purpose.
      this.userPaths.push(abs);
      this.loaders.set(handler.name, async () => handler);
      this.cache.delete(handler.name);
    }
  }

  names(): string[] {
    return [...this.loaders.keys()].sort();
  }

  has(name: string): boolean {
    return this.loaders.has(name);
  }

  get(name: string): Promise<StageHandler> {
    const load = this.loaders.get(name);
    if (!load) throw usageError(`unknown stage \`${name}\`; known stages: ${this.names().join(", ")}`);
    let p = this.cache.get(name);
    if (!p) {
      p = load();
      this.cache.set(name, p);
    }
    return p;
  }
}

export async function loadStageModule(path: string): Promise<StageHandler> {
  let mod: { default?: unknown };
  try {
    mod = await import(path);
  } catch (e) {
    throw configError(`cannot load stage module ${path}: ${buildErrorText(e)}`);
  }
  const exp = mod.default;
  let handler: unknown = exp;
  if (typeof exp === "function") {
    try {
      handler = await (exp as (api: typeof stageApi) => unknown)(stageApi);
    } catch (e) {
      throw configError(`stage module ${path} failed while loading: ${buildErrorText(e)}`);
    }
  }
  const h = handler as Partial<StageHandler> | undefined;
  if (!h || typeof h !== "object" || typeof h.name !== "string" || typeof h.run !== "function")
    throw configError(`stage module ${path} must export default a StageHandler {name, run, payloadSchema} or (api) => StageHandler`);
  if (!STAGE_NAME.test(h.name)) throw configError(`stage module ${path}: invalid stage name \`${h.name}\` (lowercase letters, digits, - and _)`);
  if (!h.payloadSchema || typeof (h.payloadSchema as { safeParse?: unknown }).safeParse !== "function")
    throw configError(`stage module ${path}: stage \`${h.name}\` needs a payloadSchema (use api.z)`);
  return { description: "", ...h } as StageHandler;
}

interface BuildMessage {
  message: string;
  position?: { file: string; line: number; column: number } | null;
}

/** Bun's build errors as `file:line:column: message` (the first three), instead of "2 errors building …". */
export function buildErrorText(e: unknown): string {
  const errs = (e as { errors?: BuildMessage[] }).errors;
  if (Array.isArray(errs) && errs.length) {
    const lines = errs.slice(0, 3).map((x) => (x.position ? `${x.position.file}:${x.position.line}:${x.position.column}: ${x.message}` : x.message));
    if (errs.length > 3) lines.push(`(${errs.length - 3} more)`);
    return lines.join("; ");
  }
  const pos = (e as { position?: BuildMessage["position"] }).position;
  const msg = (e as Error).message?.split("\n")[0] ?? String(e);
  if (pos) return `${pos.file}:${pos.line}:${pos.column}: ${msg}`;
  // An error thrown while the module runs: where, from the first frame in a file of the user's.
  const at = /\(?((?:\/|\.)[^\s():]+):(\d+):(\d+)\)?/.exec((e as Error).stack?.split("\n").slice(1).join("\n") ?? "");
  return at && !at[1]!.startsWith("/$bunfs/") ? `${at[1]}:${at[2]}:${at[3]}: ${msg}` : msg;
}
