import { join } from "node:path";
import type { PluginApi, PluginFactory, Reporter } from "../../src/process/plugin.ts";
import { renderPage } from "./html-render.ts";

/** report.html for the analysis (identification + pre) and for each task (post). */
const htmlReport: PluginFactory = (api: PluginApi) => {
  const r: Reporter = {
    kind: "reporter",
    NAME: "html",
    ORDER: 10,
    reportPre(ctx) {
      if (!ctx.document) return;
      const ident = ctx.identification ?? {};
      const target = ctx.document.target as Record<string, unknown> | undefined;
      const name = String(target?.filename ?? target?.url ?? ctx.analysisId);
      api.writeFileAtomic(
        join(ctx.analysisDir, "report.html"),
        renderPage({
          title: `${name} — falc analysis ${ctx.analysisId}`,
          subtitle: `analysis ${ctx.analysisId} · ${ctx.category} · identification and pre (static) results`,
          target,
          score: ctx.score,
          sections: [
            { title: "Identification", doc: ident },
            { title: "Pre", doc: ctx.document },
          ],
        }),
      );
    },
    reportPost(ctx) {
      if (!ctx.document || !ctx.taskDir) return;
      const target = (ctx.identification?.target ?? {}) as Record<string, unknown>;
      const name = String(target.filename ?? target.url ?? ctx.analysisId);
      api.writeFileAtomic(
        join(ctx.taskDir, "report.html"),
        renderPage({
          title: `${name} — falc task ${ctx.taskId}`,
          subtitle: `task ${ctx.taskId} of analysis ${ctx.analysisId} · behaviour and network (post) results`,
          target,
          score: ctx.score,
          sections: [{ title: "Post", doc: ctx.document }],
        }),
      );
    },
  };
  return r;
};

export default htmlReport;
