/**
 * Runs processor plugins without the framework, for plugin unit tests: a ProcessingContext with
 * in-memory error and signature trackers, and the lifecycle the stage runner follows
 * (enabled → initOnce → init → start → cleanup, DisablePlugin meaning "skipped").
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../src/core/atomic.ts";
import { silentLogger } from "../../src/core/logger.ts";
import {
  CancelProcessing,
  DisablePlugin,
  type PluginApi,
  type PluginFactory,
  type ProcessingContext,
  type ProcessingStage,
  type Processor,
  type Signature,
} from "../../src/process/plugin.ts";

export const testApi: PluginApi = { z, DisablePlugin, CancelProcessing, writeFileAtomic };

export interface TestContext extends ProcessingContext {
  errorList: string[];
  /** Removes the scratch directory. */
  dispose(): void;
}

export function makeContext(opts: {
  stage: ProcessingStage;
  path?: string;
  filename?: string;
  sha256?: string;
  size?: number;
  taskDir?: string;
  identification?: Record<string, unknown>;
  pre?: Record<string, unknown>;
  results?: Record<string, unknown>;
  config?: Record<string, unknown>;
  analysisDir?: string;
  /** Use this scratch directory (the caller owns it) instead of a fresh one removed by dispose(). */
  workDir?: string;
}): TestContext {
  const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), "falc-plugin-work-"));
  const errorList: string[] = [];
  const sigs = new Map<string, Signature>();
  return {
    stage: opts.stage,
    analysisId: "20260101-ABCDEF",
    taskId: opts.taskDir ? "20260101-ABCDEF_1" : undefined,
    analysisDir: opts.analysisDir ?? workDir,
    taskDir: opts.taskDir,
    category: "file",
    target: { category: "file", path: opts.path ?? "/dev/null", filename: opts.filename ?? "sample", size: opts.size ?? 0, sha256: opts.sha256 ?? "" },
    results: opts.results ?? {},
    identification: opts.identification,
    pre: opts.pre,
    errors: { add: (e) => errorList.push(typeof e === "string" ? e : e.message) },
    signatures: {
      add(sig) {
        const old = sigs.get(sig.name);
        if (old) old.iocs = [...(old.iocs ?? []), ...(sig.iocs ?? [])];
        else sigs.set(sig.name, { ...sig, iocs: [...(sig.iocs ?? [])] });
      },
      list: () => [...sigs.values()],
    },
    log: silentLogger,
    signal: new AbortController().signal,
    workDir,
    config: opts.config ?? {},
    state: {},
    errorList,
    dispose: () => {
      if (!opts.workDir) rmSync(workDir, { recursive: true, force: true });
    },
  };
}

export async function loadProcessors(factory: PluginFactory): Promise<Processor[]> {
  const p = await factory(testApi);
  return (Array.isArray(p) ? p : [p]).filter((x): x is Processor => x.kind === "processor");
}

const initialised = new WeakSet<Processor>();

/** One run of a processor the way the stage runner does it; undefined when it disabled itself. */
export async function runProcessor(p: Processor, ctx: ProcessingContext): Promise<unknown> {
  try {
    if (!initialised.has(p)) {
      if (p.enabled && !p.enabled(ctx.config)) return undefined;
      await p.initOnce?.(ctx.config);
      initialised.add(p);
    }
    await p.init?.(ctx);
    const out = await p.start(ctx);
    if (out !== undefined) ctx.results[p.KEY] = out;
    return out;
  } catch (e) {
    if (e instanceof DisablePlugin) return undefined;
    throw e;
  } finally {
    await p.cleanup?.(ctx);
  }
}
