import { expect, test } from "bun:test";
import { decodeJson, encodeJson, planSchema, wireStatusProblem } from "./protocol.ts";

const ok = ["a/b", "f", 10, 0o644, 1_700_000_000_000.5, "ab".repeat(32)];

test("status entries are checked field by field", () => {
  expect(wireStatusProblem(ok)).toBeNull();
  expect(wireStatusProblem(["d", "d", 0, 0o755, 0, ""])).toBeNull();
  const bad: [unknown, RegExp][] = [
    ["a", /expected/],
    [ok.slice(0, 5), /expected/],
    [["", ...ok.slice(1)], /path/],
    [["x".repeat(4097), ...ok.slice(1)], /path/],
    [["a", "x", ...ok.slice(2)], /kind/],
    [["a", "f", -1, ...ok.slice(3)], /size/],
    [["a", "f", 1.5, ...ok.slice(3)], /size/],
    [["a", "f", 1, 0o10000, ...ok.slice(4)], /mode/],
    [["a", "f", 1, 0o644, -1, ok[5]], /mtime/],
    [["a", "f", 1, 0o644, Number.NaN, ok[5]], /mtime/],
    [["a", "f", 1, 0o644, 1, "AB".repeat(32)], /hash/],
    [["a", "f", 1, 0o644, 1, "ab"], /hash/],
  ];
  for (const [w, why] of bad) expect(wireStatusProblem(w)).toMatch(why);
});

test("a plan with one bad entry among thousands is refused, naming where", () => {
  const files = Array.from({ length: 5000 }, (_, i) => [`d/f${i}`, ...ok.slice(1)]);
  const plan = { id: 1, files, dirs: [["d", "d", 0, 0o755, 0, ""]], remove: [], missing: 5001, shared: 0, extra: 0 };
  expect(decodeJson(planSchema, encodeJson(plan), "sync_start").files).toHaveLength(5000);
  files[4321] = ["d/x", "f", "10", 0o644, 1, ok[5]];
  expect(() => decodeJson(planSchema, encodeJson(plan), "sync_start")).toThrow("sync_start: files.4321: size");
  expect(() => decodeJson(planSchema, encodeJson({ ...plan, files: "nope" }), "sync_start")).toThrow(/files: expected a list/);
});
