import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRedis, type RedisServer } from "../redis-server.ts";
import { runFalc, tempHome, waitFor } from "./helpers.ts";
import { startWorker, type WorkerProc } from "./worker-helpers.ts";

/** The process stages on `falc worker`: 200 files through identification and pre, a throwing plugin, post. */
const BOOM = `export default () => ({
  kind: "processor", NAME: "boom", KEY: "boom", ORDER: 20, STAGE: "pre", CATEGORY: ["file"],
  start(ctx) {
    if (ctx.target.filename.startsWith("boom")) throw new Error("boom plugin refused " + ctx.target.filename);
    return { fine: true };
  },
});`;
const COUNT = `import { readdirSync, readFileSync } from "node:fs";
export default () => ({
  kind: "processor", NAME: "count_events", KEY: "count_events", ORDER: 10, STAGE: "post", CATEGORY: ["file"],
  start(ctx) {
    const d = ctx.taskDir + "/events";
    return { events: readdirSync(d).reduce((n, f) => n + readFileSync(d + "/" + f, "utf8").split("\\n").filter(Boolean).length, 0) };
  },
});`;

let H: { home: string; cleanup(): void };
let w: WorkerProc | undefined;
let redis: RedisServer | null = null;
let redisUrl = "";

beforeAll(async () => {
  H = tempHome("falc-e2e-procw-");
  // Answers PING before any test runs; a missing redis-server fails here, never skips.
  redis = await startRedis();
  redisUrl = redis.url(0);
});
afterAll(async () => {
  await w?.stop();
  await redis?.stop();
  H.cleanup();
});

function analysisState(home: string, id: string): string {
  return JSON.parse(readFileSync(join(home, "storage/analyses", id.slice(0, 8), id.slice(9), "analysis.json"), "utf8")).state;
}

describe.each(["sqlite", "redis"])("falc worker --stage identification,pre,post on the %s queue", (kind) => {
  test("200 queued files all finish; a throwing plugin fails only its analysis and the worker keeps working", async () => {
    const home = join(H.home, kind);
    mkdirSync(home, { recursive: true });
    const queue = kind === "sqlite" ? "sqlite" : redisUrl;
    const env = { FALC_HOME: home };
    if (kind === "redis") {
      const probe = await runFalc(["tasks", "stats", "--queue", queue, "--json"], { env });
      expect(probe.code).toBe(0);
    }
    const files = join(home, "in");
    mkdirSync(files);
    const paths = Array.from({ length: 200 }, (_, i) => join(files, `f${String(i).padStart(3, "0")}.txt`));
    paths.forEach((p, i) => writeFileSync(p, `sample ${i}\n${"x".repeat(i)}\n`));
    const boom = join(files, "boom.txt");
    writeFileSync(boom, "boom\n");
    const plugins = join(home, "plugins");
    mkdirSync(plugins);
    writeFileSync(join(plugins, "boom.ts"), BOOM);
    writeFileSync(join(plugins, "count.ts"), COUNT);

    const sub = await runFalc(["process", "--submit", "--queue", queue, "--json", ...paths, boom], { env });
    expect(sub.stderr).toBe("");
    expect(sub.code).toBe(0);
    const ids: string[] = JSON.parse(sub.stdout).map((x: { analysis_id: string }) => x.analysis_id);
    expect(ids).toHaveLength(201);
    expect(new Set(ids).size).toBe(201);
    const boomId = ids[200]!;
    expect(analysisState(home, ids[0]!)).toBe("pending_identification");

    w = await startWorker(home, ["--stage", "identification,pre,post", "--count", "identification=2", "--count", "pre=2", "--queue", queue, "--poll-ms", "50"], { FALC_PLUGIN_DIR: plugins });
    const stats = async () => JSON.parse((await runFalc(["tasks", "stats", "--queue", queue, "--json"], { env })).stdout);
    const s = await waitFor(
      async () => {
        const st = await stats();
        return st.identification?.finished === 201 && (st.pre?.finished ?? 0) + (st.pre?.failed ?? 0) === 201 ? st : null;
      },
      150_000,
      500,
      "201 identification and 201 pre tasks done",
    );
    expect(s.pre).toMatchObject({ finished: 200, failed: 1, queued: 0 });
    for (const id of ids.slice(0, 200)) expect(analysisState(home, id)).toBe("tasks_pending");
    expect(analysisState(home, boomId)).toBe("fatal_error");

    // The failed pre task is final (no retries) and says why.
    const failed = JSON.parse((await runFalc(["tasks", "list", "--queue", queue, "--status", "failed", "--json"], { env })).stdout);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ id: `pre-${boomId}`, stage: "pre", attempts: 1 });
    expect(failed[0].error.message).toBe(`pre of ${boomId} failed: plugin boom failed: boom plugin refused boom.txt`);
    const show = JSON.parse((await runFalc(["process", "show", boomId, "--json"], { env })).stdout);
    expect(show.errors.fatal[0].traceback).toContain(join(plugins, "boom.ts"));

    // Still alive and working: the same children take the next analysis, queued and waited for.
    const health = await w.health();
    expect(health.workers.filter((x) => x.state === "idle" || x.state === "working")).toHaveLength(5);
    const pids = health.workers.map((x) => x.pid).sort();
    const more = join(files, "later.txt");
    writeFileSync(more, "one more\n");
    const waited = await runFalc(["process", more, "--submit", "--wait", "--queue", queue, "--json"], { env });
    expect(waited.code).toBe(0);
    const later = JSON.parse(waited.stdout);
    expect(later.state).toBe("tasks_pending");
    expect(later.target.filename).toBe("later.txt");
    expect((await w.health()).workers.map((x) => x.pid).sort()).toEqual(pids);

    // Post on the worker too.
    const collected = join(home, "collected");
    mkdirSync(join(collected, "events"), { recursive: true });
    writeFileSync(join(collected, "events", "a.json"), '{"ts":0,"type":"process","action":"create","pid":5}\n{"ts":1,"type":"file","action":"read","pid":5,"path":"/etc/hosts"}\n');
    const post = await runFalc(["process", "post", later.analysis_id, "--task-dir", collected, "--submit", "--wait", "--queue", queue, "--json"], { env });
    expect(post.stderr).toBe("");
    expect(post.code).toBe(0);
    const p = JSON.parse(post.stdout);
    expect(p.state).toBe("finished");
    expect(p.tasks[0].state).toBe("reported");
    expect(JSON.parse(readFileSync(join(p.paths.dir, "task_1", "report.json"), "utf8")).count_events).toEqual({ events: 2 });

    expect(await w.stop()).toBe(0);
    w = undefined;
  }, 200_000);
});
