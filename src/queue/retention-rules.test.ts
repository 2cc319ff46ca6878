import { expect, test } from "bun:test";
import { DEFAULT_RETENTION, parseDuration, retentionFrom } from "./retention-rules.ts";

test("durations: units, forever, and a clear error", () => {
  expect(parseDuration("7d")).toBe(7 * 86_400_000);
  expect(parseDuration("12h")).toBe(43_200_000);
  expect(parseDuration("1.5m")).toBe(90_000);
  expect(parseDuration("500ms")).toBe(500);
  expect(parseDuration("2w")).toBe(14 * 86_400_000);
  expect(parseDuration("forever")).toBeNull();
  expect(() => parseDuration("7")).toThrow("invalid duration `7`");
  expect(() => parseDuration("soon")).toThrow("use a number and a unit");
});

test("defaults, overrides and per-stage rules", () => {
  expect(retentionFrom(undefined).ruleFor("x")).toEqual(DEFAULT_RETENTION);
  const r = retentionFrom({ finished: "1d", max_failed: "unlimited", stages: { scan: { finished: "forever", max_finished: 5 } } });
  expect(r.ruleFor("other")).toEqual({ ...DEFAULT_RETENTION, finishedMs: 86_400_000, maxFailed: null });
  expect(r.ruleFor("scan")).toEqual({ ...DEFAULT_RETENTION, finishedMs: null, maxFinished: 5, maxFailed: null });
  // A bare number is seconds.
  expect(retentionFrom({ failed: 60 }).ruleFor("s").failedMs).toBe(60_000);
});

test("bad retention config names the key", () => {
  expect(() => retentionFrom({ finished: "soon" }, "falc.yaml")).toThrow("falc.yaml: key `retention.finished`");
  expect(() => retentionFrom({ stages: { scan: { max_finished: -1 } } })).toThrow("retention.stages.scan.max_finished");
  expect(() => retentionFrom({ keep: 1 })).toThrow("retention");
});
