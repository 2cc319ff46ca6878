import { expect, test } from "bun:test";
import type { Task, TaskStatus } from "../core/task.ts";
import { seededRandom, testSeed } from "../../test/seeded.ts";
import { idCompare, searchPage, type SearchSource } from "./search-page.ts";

/** An index held in an array, sorted the way SQLite and Redis sort ids (UTF-8 bytes). */
function arraySource(tasks: Task[]): SearchSource & { reads: number } {
  const sorted = [...tasks].sort((a, b) => idCompare(a.id, b.id));
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const src = {
    reads: 0,
    async idsWithPrefix(prefix: string, after: string | null, newest: boolean, n: number) {
      const ids = sorted.map((t) => t.id).filter((id) => id.startsWith(prefix) && (after === null || (newest ? idCompare(id, after) < 0 : idCompare(id, after) > 0)));
      if (newest) ids.reverse();
      const out = ids.slice(0, n);
      src.reads += out.length;
      return out;
    },
    async tasks(ids: string[]) {
      return ids.map((id) => byId.get(id) ?? null);
    },
    async heads(ids: string[]) {
      return ids.map((id) => byId.get(id) ?? null);
    },
    async runningWithWorker(text: string) {
      return tasks.filter((t) => t.worker && t.worker.toLowerCase().includes(text));
    },
  };
  return src;
}

test("randomized: with a filter that keeps few matches, short pages still walk every match once, and no page reads past its cap (seeded)", async () => {
  const rand = seededRandom(testSeed("search pages"));
  const statuses: TaskStatus[] = ["queued", "finished", "failed", "started"];
  const tasks = Array.from({ length: 400 }, (_, i) => {
    const status = statuses[Math.floor(rand() * 4)]!;
    return { id: `${"ab"[Math.floor(rand() * 2)]}${"xy"[Math.floor(rand() * 2)]}${i}`, stage: rand() < 0.1 ? "rare" : "s", status, worker: status === "started" ? `${"ab"[i % 2]}w${i % 5}` : null } as Task;
  });
  for (let round = 0; round < 30; round++) {
    const src = arraySource(tasks);
    const text = ["a", "bx", "b", "w3", "ay1", "aw"][Math.floor(rand() * 6)]!;
    const stage = rand() < 0.5 ? "rare" : undefined;
    const order = rand() < 0.5 ? ("newest" as const) : ("oldest" as const);
    const limit = 1 + Math.floor(rand() * 6);
    const bounds = { scanCap: 5 + Math.floor(rand() * 20), batch: 1 + Math.floor(rand() * 7) };
    const want = tasks
      .filter((t) => (t.id.startsWith(text) || (t.worker ?? "").includes(text)) && (!stage || t.stage === stage))
      .map((t) => t.id)
      .sort(idCompare);
    if (order === "newest") want.reverse();
    const got: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 1000; pages++) {
      const before = src.reads;
      const p = await searchPage(src, { text, stage, order, limit, after }, bounds);
      expect(src.reads - before).toBeLessThanOrEqual(bounds.scanCap);
      expect(p.tasks.length).toBeLessThanOrEqual(limit);
      got.push(...p.tasks.map((t) => t.id));
      if (!p.next) break;
      after = p.next;
    }
    expect(got, `${text} ${stage} ${order} limit ${limit} ${JSON.stringify(bounds)}`).toEqual(want);
  }
});
