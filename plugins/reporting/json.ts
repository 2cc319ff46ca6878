import { join } from "node:path";
import type { PluginApi, PluginFactory, ReportContext, Reporter } from "../../src/process/plugin.ts";

/**
 * Cuckoo3's JSONDump: each stage's document to its file (identification.json, pre.json,
 * task_<n>/report.json). The next stage reads these files, so this reporter runs first.
 */
const jsonDump: PluginFactory = (api: PluginApi) => {
  const write = (path: string, ctx: ReportContext) => {
    if (!ctx.document) throw new Error("no stage document to write");
    api.writeFileAtomic(path, JSON.stringify(ctx.document, null, 2) + "\n");
  };
  const r: Reporter = {
    kind: "reporter",
    NAME: "json",
    ORDER: 1,
    reportIdentification: (ctx) => write(join(ctx.analysisDir, "identification.json"), ctx),
    reportPre: (ctx) => write(join(ctx.analysisDir, "pre.json"), ctx),
    reportPost: (ctx) => {
      if (!ctx.taskDir) throw new Error("post report without a task directory");
      write(join(ctx.taskDir, "report.json"), ctx);
    },
  };
  return r;
};

export default jsonDump;
