import { describe, expect, test } from "bun:test";
import { isAnalysisId, makeTaskId, newAnalysisId, splitAnalysisId, splitTaskId, utcDay } from "./ids.ts";
import { analysisPaths, binaryPath, taskPaths } from "./layout.ts";
import { ANALYSIS_STATES, canMoveAnalysis, canMoveTask, assertAnalysisMove, assertTaskMove, TASK_STATES } from "./states.ts";
import { openStore } from "./storage.ts";

describe("analysis and task ids", () => {
  test("YYYYMMDD-XXXXXX with the UTC day and 6 of A-Z0-9, all different", () => {
    const day = new Date("2026-03-04T23:30:00-05:00"); // already the 5th in UTC
    const ids = new Set(Array.from({ length: 5000 }, () => newAnalysisId(day)));
    expect(ids.size).toBe(5000);
    for (const id of ids) {
      expect(id).toMatch(/^20260305-[A-Z0-9]{6}$/);
      expect(isAnalysisId(id)).toBe(true);
    }
    expect(utcDay(day)).toBe("20260305");
    // Every character of the alphabet turns up (the draw is not stuck on part of it).
    const chars = new Set([...ids].flatMap((id) => [...id.slice(9)]));
    expect(chars.size).toBe(36);
  });

  test("task ids are <analysis>_<n> and split back", () => {
    expect(makeTaskId("20260305-AB12CD", 3)).toBe("20260305-AB12CD_3");
    expect(splitTaskId("20260305-AB12CD_12")).toEqual({ analysisId: "20260305-AB12CD", number: 12 });
    expect(splitAnalysisId("20260305-AB12CD")).toEqual({ day: "20260305", part: "AB12CD" });
  });

  test("anything else is refused with the expected form", () => {
    for (const bad of ["20260305-ab12cd", "2026035-AB12CD", "20260305-AB12C", "../../etc", "20260305-AB12CD/..", ""])
      expect(() => splitAnalysisId(bad)).toThrow(/YYYYMMDD-XXXXXX/);
    for (const bad of ["20260305-AB12CD_0", "20260305-AB12CD", "20260305-AB12CD_x", "20260305-AB12CD_1/.."])
      expect(() => splitTaskId(bad)).toThrow(/<analysis id>_<n>/);
    expect(() => makeTaskId("20260305-AB12CD", 0)).toThrow();
  });

  test("paths follow Cuckoo3's layout", () => {
    const a = analysisPaths(openStore("/h"), "20260305-AB12CD");
    expect(a.dir).toBe("/h/storage/analyses/20260305/AB12CD");
    expect(a.analysisJson).toBe("/h/storage/analyses/20260305/AB12CD/analysis.json");
    const t = taskPaths(openStore("/h"), "20260305-AB12CD_2");
    expect(t.taskJson).toBe("/h/storage/analyses/20260305/AB12CD/task_2/task.json");
    expect(t.events).toBe("/h/storage/analyses/20260305/AB12CD/task_2/events");
    expect(binaryPath("/h", "ab" + "0".repeat(62))).toBe(`/h/storage/binaries/a/b/ab${"0".repeat(62)}`);
  });
});

describe("Cuckoo3 states", () => {
  test("an analysis goes pending_identification → pending_pre → tasks_pending → finished", () => {
    expect(canMoveAnalysis("pending_identification", "pending_pre")).toBe(true);
    expect(canMoveAnalysis("pending_pre", "tasks_pending")).toBe(true);
    expect(canMoveAnalysis("tasks_pending", "finished")).toBe(true);
    expect(canMoveAnalysis("pending_identification", "no_selected")).toBe(true);
    expect(canMoveAnalysis("pending_pre", "fatal_error")).toBe(true);
  });

  test("no skipping and no way out of the end states", () => {
    expect(canMoveAnalysis("pending_identification", "tasks_pending")).toBe(false);
    expect(canMoveAnalysis("pending_identification", "finished")).toBe(false);
    for (const to of ANALYSIS_STATES) {
      expect(canMoveAnalysis("fatal_error", to)).toBe(false);
      expect(canMoveAnalysis("no_selected", to)).toBe(false);
    }
    expect(() => assertAnalysisMove("20260305-AB12CD", "fatal_error", "pending_pre")).toThrow("analysis 20260305-AB12CD is fatal_error; it cannot become pending_pre");
  });

  test("a task goes pending → run_completed → pending_post → reported, and may be posted again", () => {
    expect(canMoveTask("pending", "running")).toBe(true);
    expect(canMoveTask("running", "run_completed")).toBe(true);
    expect(canMoveTask("run_completed", "pending_post")).toBe(true);
    expect(canMoveTask("pending_post", "reported")).toBe(true);
    expect(canMoveTask("reported", "pending_post")).toBe(true);
    expect(canMoveTask("pending", "reported")).toBe(false);
    expect(canMoveTask("pending", "pending_post")).toBe(false);
    expect(canMoveTask("reported", "reported")).toBe(false);
    expect(() => assertTaskMove("x_1", "pending", "reported")).toThrow(/cannot become reported/);
    expect(TASK_STATES).toEqual(["pending", "running", "run_completed", "pending_post", "reported", "fatal_error"]);
  });
});
