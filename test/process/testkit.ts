import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/core/logger.ts";
import { processConfigSchema, type ProcessConfig } from "../../src/process/config.ts";
import type { FlowEnv } from "../../src/process/flow.ts";
import { loadPlugins, type PluginSet } from "../../src/process/loader.ts";
import type { PluginFactory } from "../../src/process/plugin.ts";
import type { Store } from "../../src/process/storage.ts";

/** Tests only: a temporary FALC_HOME, plugin sets from factories, and a FlowEnv over them. */
export function tempDir(prefix = "falc-process-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function processCfg(over: Partial<ProcessConfig> = {}): ProcessConfig {
  return { ...processConfigSchema.parse({}), ...over };
}

export function pluginSet(factories: PluginFactory[], over: Partial<ProcessConfig> = {}): Promise<PluginSet> {
  return loadPlugins({ builtins: factories, config: processCfg(over), log: silentLogger });
}

export function flowEnv(store: Store, plugins: PluginSet, over: Partial<ProcessConfig> = {}, signal = new AbortController().signal): FlowEnv {
  const workDir = join(store.home, "run", "work", "test");
  mkdirSync(workDir, { recursive: true });
  return { store, plugins, config: processCfg(over), log: silentLogger, signal, workDir };
}
