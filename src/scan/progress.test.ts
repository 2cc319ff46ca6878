import { describe, expect, test } from "bun:test";
import { progressBar, progressLine } from "./progress.ts";
import { refusalLines } from "./scan-request.ts";

describe("scan progress and refusal summaries", () => {
  test("the progress line has elapsed time and an ETA from the pace so far", () => {
    expect(progressLine({ fraction: 0.25, done: 1, total: 4, elapsedMs: 30_000, note: "10.0.0.1 discovery" })).toBe("[######------------------]  25%  1/4  30s eta 1m30s  10.0.0.1 discovery");
    // No ETA before there is any pace to judge by, nor once done.
    expect(progressLine({ fraction: 0, done: 0, total: 4, elapsedMs: 500, note: "" })).not.toContain("eta");
    expect(progressLine({ fraction: 1, done: 4, total: 4, elapsedMs: 65_000, note: "" })).toContain("100%  4/4  1m05s  ");
  });

  test("text printed while the bar is up goes on its own line and is not overwritten", () => {
    let out = "";
    const bar = progressBar({ write: (s: string) => (out += s) }, true);
    bar.update(0, 2, 0.5, "a");
    bar.print("falc: warning");
    bar.update(1, 2, 0.6, "b");
    const afterPrint = out.slice(out.indexOf("falc: warning"));
    expect(afterPrint.startsWith("falc: warning\n")).toBe(true);
    expect(afterPrint).toContain("\r\x1b[K[");
  });

  test("refusals: the count per reason and the first 10, not one line each", () => {
    const refused = Array.from({ length: 65_524 }, (_, i) => ({ input: "10.1.0.0/16", ip: `10.1.${i >> 8}.${i & 255}`, reason: "out_of_scope" as const, detail: "denied by scope.deny 10.1.0.0/16" }));
    const lines = refusalLines(refused);
    expect(lines).toHaveLength(11);
    expect(lines[0]).toBe("refused 65524 targets (65524 out_of_scope); the first 10:");
    expect(refusalLines([])).toEqual([]);
  });
});
