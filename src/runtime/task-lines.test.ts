import { expect, test } from "bun:test";
import pino from "pino";
import { flushTaskLines, taskLine } from "./task-lines.ts";

function capture(level: string) {
  const out: string[] = [];
  const log = pino({ level, base: undefined }, { write: (s: string) => void out.push(s) });
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test("at info, per-task lines are counted, not written; one summary line per flush", () => {
  const { log, lines } = capture("info");
  const child = log.child({ worker: "pre0" });
  for (let i = 0; i < 1000; i++) {
    taskLine(child, log, "started", "pre", { task_id: `t${i}` });
    taskLine(child, log, i % 10 ? "finished" : "failed", "pre", { task_id: `t${i}` });
  }
  taskLine(child, log, "finished", "scan");
  expect(lines()).toEqual([]);
  flushTaskLines(log);
  const [sum, ...rest] = lines();
  expect(rest).toEqual([]);
  expect(sum).toMatchObject({ level: 30, event: "tasks_per_minute", stages: { pre: { started: 1000, finished: 900, failed: 100 }, scan: { started: 0, finished: 1, failed: 0 } } });
  expect(sum!.msg).toBe("901 tasks finished in the last minute");
  // Nothing new: no line.
  flushTaskLines(log);
  expect(lines()).toHaveLength(1);
});

test("at debug, every start and finish is written with its fields", () => {
  const { log, lines } = capture("debug");
  taskLine(log.child({ worker: "w" }), log, "started", "pre", { task_id: "t1" });
  taskLine(log.child({ worker: "w" }), log, "finished", "pre", { task_id: "t1" });
  expect(lines().map((l) => [l.level, l.event, l.task_id, l.worker])).toEqual([
    [20, "task_started", "t1", "w"],
    [20, "task_finished", "t1", "w"],
  ]);
});
