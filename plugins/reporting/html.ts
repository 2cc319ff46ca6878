import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { PluginApi, PluginFactory, ReportContext, Reporter } from "../../src/process/plugin.ts";
import { type TaskLink, renderPage } from "./html-render.ts";

interface AnalysisTasks {
  score: number;
  tasks: { id: string; platform: string; os_version: string; state: string; score: number }[];
}

function readAnalysisDoc(dir: string): AnalysisTasks {
  try {
    const a = JSON.parse(readFileSync(join(dir, "analysis.json"), "utf8")) as Partial<AnalysisTasks>;
    return { score: typeof a.score === "number" ? a.score : 0, tasks: Array.isArray(a.tasks) ? a.tasks : [] };
  } catch {
    return { score: 0, tasks: [] };
  }
}

const taskHref = (id: string) => `task_${id.slice(id.lastIndexOf("_") + 1)}/report.html`;

/**
 * report.html for each task (post), and the analysis's report.html: written after pre, and written again
 * after every post with the overall verdict (the highest score of pre and every task so far) and a link to
 * each task's report, so the page never contradicts analysis.json.
 */
const htmlReport: PluginFactory = (api: PluginApi) => {
  const analysisPage = (ctx: ReportContext, pre: Record<string, unknown>, score: number, tasks: TaskLink[]) => {
    const target = pre.target as Record<string, unknown> | undefined;
    const name = String(target?.filename ?? target?.url ?? ctx.analysisId);
    api.writeFileAtomic(
      join(ctx.analysisDir, "report.html"),
      renderPage({
        title: `${name} — falc analysis ${ctx.analysisId}`,
        subtitle: `analysis ${ctx.analysisId} · ${ctx.category} · identification, pre (static) and ${tasks.length} task(s)`,
        target,
        score,
        tasks,
        sections: [
          { title: "Identification", doc: ctx.identification ?? {} },
          { title: "Pre", doc: pre },
        ],
      }),
    );
  };
  const r: Reporter = {
    kind: "reporter",
    NAME: "html",
    ORDER: 10,
    reportPre(ctx) {
      if (!ctx.document) return;
      analysisPage(ctx, ctx.document, ctx.score, []);
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
      // The analysis page again, as analysis.json will read once this post commits.
      if (ctx.pre && ctx.taskId) {
        const a = readAnalysisDoc(ctx.analysisDir);
        const tasks: TaskLink[] = a.tasks.map((t) =>
          t.id === ctx.taskId ? { ...t, state: "reported", score: ctx.score, href: taskHref(t.id) } : { ...t, href: t.state === "reported" ? taskHref(t.id) : undefined },
        );
        analysisPage(ctx, ctx.pre, Math.max(a.score, ctx.score), tasks);
      }
    },
  };
  return r;
};

export default htmlReport;
