import type { Logger } from "../core/logger.ts";
import { isDisable, type PluginSet } from "./loader.ts";
import type { Category, ProcessingContext, ProcessingStage, ReportContext, Reporter, Signature, StageErrors } from "./plugin.ts";
import { CancelProcessing } from "./plugin.ts";
import { Signatures, StageErrorLog } from "./trackers.ts";

/** What every plugin of a stage run shares; the runner adds results, errors, signatures, config and state. */
export type StageBase = Omit<ProcessingContext, "results" | "errors" | "signatures" | "config" | "state" | "log"> & { log: Logger };

export interface StageRun {
  stage: ProcessingStage;
  plugins: PluginSet;
  base: StageBase;
  /** Target platforms, for processors with PLATFORMS ([] = not known yet: all run). */
  platforms: string[];
  /**
   * Compose the stage document (identification.json / pre.json / report.json) from the results.
   * It may throw (e.g. the `identify` result is malformed): the stage is then fatal.
   */
  document(out: { results: Record<string, unknown>; signatures: Signature[]; score: number; errors: StageErrors }): Record<string, unknown>;
}

export interface StageOutcome {
  ok: boolean;
  results: Record<string, unknown>;
  signatures: Signature[];
  score: number;
  errors: StageErrors;
  document: Record<string, unknown> | null;
}

function traceback(e: unknown): string {
  return e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : "";
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isCancel(e: unknown): boolean {
  return e instanceof CancelProcessing || (e instanceof Error && e.name === "CancelProcessing");
}

const reportMethod: Record<ProcessingStage, keyof Reporter> = {
  identification: "reportIdentification",
  pre: "reportPre",
  post: "reportPost",
};

/**
 * One stage, the Cuckoo3 way: processors in ORDER, each seeing the results before it in ctx.results
 * and storing its own under KEY; DisablePlugin skips a plugin; CancelProcessing or any other throw
 * stops the stage as fatal with the error and its stack; then reporters get everything. A cancelled
 * task (aborted signal) is not a processing failure: its abort reason is thrown to the caller.
 */
export async function runStage(run: StageRun): Promise<StageOutcome> {
  const { stage, plugins, base } = run;
  const errors = new StageErrorLog();
  const signatures = new Signatures();
  const results: Record<string, unknown> = {};
  const category: Category = base.category;
  const fail = (): StageOutcome => ({ ok: false, results, signatures: signatures.list(), score: signatures.score(), errors: errors.snapshot(), document: null });

  for (const { plugin: p } of plugins.processorsFor(stage, category, run.platforms)) {
    if (base.signal.aborted) throw base.signal.reason;
    const log = base.log.child({ plugin: p.NAME });
    const ctx: ProcessingContext = {
      ...base,
      results,
      errors: errors.forPlugin(p.NAME),
      signatures,
      config: plugins.configFor(p.NAME),
      state: {},
      log,
    };
    let inited = false;
    try {
      await p.init?.(ctx);
      inited = true;
      const value = await p.start(ctx);
      if (value !== undefined) {
        // Plugin output is checked where it comes in: it must survive the JSON dump.
        JSON.stringify(value);
        results[p.KEY] = value;
      }
    } catch (e) {
      if (base.signal.aborted) throw base.signal.reason;
      if (isDisable(e)) {
        log.debug({ event: "plugin_skipped", reason: message(e) }, `plugin ${p.NAME} skipped`);
      } else if (isCancel(e)) {
        errors.addFatal(`${stage} processing cancelled by plugin ${p.NAME}: ${message(e)}`, traceback(e));
      } else {
        errors.addFatal(`plugin ${p.NAME} failed: ${message(e)}`, traceback(e));
      }
    } finally {
      if (inited) {
        try {
          await p.cleanup?.(ctx);
        } catch (e) {
          errors.forPlugin(p.NAME).add(`cleanup failed: ${message(e)}`);
        }
      }
    }
    if (errors.fatal.length) {
      log.warn({ event: "stage_fatal", stage, error: errors.fatal[0]!.error }, `${stage} stopped by plugin ${p.NAME}`);
      return fail();
    }
  }

  const sigs = signatures.list();
  const score = signatures.score();
  let document: Record<string, unknown>;
  try {
    document = run.document({ results, signatures: sigs, score, errors: errors.snapshot() });
  } catch (e) {
    errors.addFatal(`${stage} result is not usable: ${message(e)}`, traceback(e));
    return fail();
  }

  const method = reportMethod[stage];
  for (const { plugin: r } of plugins.reportersFor(category)) {
    const handler = r[method] as ((c: ReportContext) => unknown) | undefined;
    if (!handler) continue;
    if (base.signal.aborted) throw base.signal.reason;
    const ctx: ReportContext = {
      ...base,
      results,
      errors: errors.forPlugin(r.NAME),
      signatures,
      config: plugins.configFor(r.NAME),
      state: {},
      log: base.log.child({ plugin: r.NAME }),
      score,
      errorReport: errors.snapshot(),
      document,
    };
    try {
      await r.init?.(ctx);
      await handler.call(r, ctx);
    } catch (e) {
      if (base.signal.aborted) throw base.signal.reason;
      if (!isDisable(e)) errors.addFatal(`reporter ${r.NAME} failed (${stage}): ${message(e)}`, traceback(e));
    } finally {
      try {
        await r.cleanup?.(ctx);
      } catch (e) {
        errors.forPlugin(r.NAME).add(`cleanup failed: ${message(e)}`);
      }
    }
    if (errors.fatal.length) return { ...fail(), document };
  }
  return { ok: true, results, signatures: sigs, score, errors: errors.snapshot(), document };
}
