import { afterEach, expect, test } from "bun:test";
import { runFalc, tempHome } from "./helpers.ts";

const homes: { cleanup(): void }[] = [];
afterEach(() => {
  while (homes.length) homes.pop()!.cleanup();
});

test("falc tasks list pages with --after, searches with --search, and refuses a bad cursor", async () => {
  const h = tempHome("falc-page-");
  homes.push(h);
  const env = { FALC_HOME: h.home };
  const sub = await runFalc(["tasks", "submit", "noop", "--payload", "{}", "--count", "7", "--json"], { env });
  expect(sub.code).toBe(0);
  const ids = (JSON.parse(sub.stdout) as { id: string }[]).map((t) => t.id).reverse(); // newest first
  const got: string[] = [];
  let after: string | null = null;
  do {
    const r = await runFalc(["tasks", "list", "--json", "--page", "--limit", "3", ...(after ? ["--after", after] : [])], { env });
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as { tasks: { id: string }[]; next: string | null };
    expect(p.tasks.length).toBeLessThanOrEqual(3);
    got.push(...p.tasks.map((t) => t.id));
    after = p.next;
  } while (after);
  expect(got).toEqual(ids);
  const text = await runFalc(["tasks", "list", "--limit", "3"], { env });
  expect(text.stdout).toMatch(/more: falc tasks list --limit 3 --after [0-9a-z.]+\n$/);
  const one = await runFalc(["tasks", "list", "--json", "--search", ids[4]!.slice(0, -3)], { env });
  expect((JSON.parse(one.stdout) as { id: string }[]).map((t) => t.id)).toEqual([ids[4]]);
  // The hint for the next page keeps the filters: following it walks every match (falc's ids all start with t).
  const seen: string[] = [];
  let args = ["tasks", "list", "--search", "t", "--limit", "3"];
  for (let pages = 0; pages < 10; pages++) {
    const r = await runFalc(args, { env });
    expect(r.code).toBe(0);
    seen.push(...r.stdout.split("\n").flatMap((l) => (ids.includes(l.split(" ")[0]!) ? [l.split(" ")[0]!] : [])));
    const more = /more: falc (tasks list .*)\n$/.exec(r.stdout);
    if (!more) break;
    expect(more[1]).toMatch(/^tasks list --limit 3 --search t --after x-[0-9a-f]+$/);
    args = more[1]!.split(" ");
  }
  // A search lists by id: newest first except among tasks created in the same millisecond.
  expect(seen).toEqual([...ids].sort().reverse());
  const bad = await runFalc(["tasks", "list", "--after", "not a cursor"], { env });
  expect(bad.code).toBe(2);
  expect(bad.stderr.trim()).toBe("falc: invalid page cursor `not a cursor`; pass the `next` value of the previous page");
});
