import { conflict } from "../core/errors.ts";

/**
 * Cuckoo3's state names. An analysis: pending_identification → pending_pre → tasks_pending → finished,
 * or no_selected (identification chose nothing to run) or fatal_error (identification or pre failed).
 * A task: pending → running → run_completed → pending_post → reported | fatal_error.
 * falc runs no machines: `falc process post` attaches collected behaviour to a pending task
 * (pending → run_completed → pending_post); a reported or failed task may be posted again.
 */
export const ANALYSIS_STATES = ["pending_identification", "waiting_manual", "pending_pre", "tasks_pending", "no_selected", "fatal_error", "finished"] as const;
export type AnalysisState = (typeof ANALYSIS_STATES)[number];

export const TASK_STATES = ["pending", "running", "run_completed", "pending_post", "reported", "fatal_error"] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const ANALYSIS_HUMAN: Record<AnalysisState, string> = {
  pending_identification: "Pending identification",
  waiting_manual: "Waiting manual",
  pending_pre: "Pending pre",
  tasks_pending: "Task(s) pending",
  no_selected: "No selected target",
  fatal_error: "Fatal error",
  finished: "Finished",
};

export const TASK_HUMAN: Record<TaskState, string> = {
  pending: "Pending",
  running: "Running",
  run_completed: "Run completed",
  pending_post: "Pending post",
  reported: "Reported",
  fatal_error: "Fatal error",
};

const analysisNext: Record<AnalysisState, readonly AnalysisState[]> = {
  pending_identification: ["pending_pre", "waiting_manual", "no_selected", "fatal_error"],
  waiting_manual: ["pending_pre", "fatal_error"],
  pending_pre: ["tasks_pending", "fatal_error"],
  // A task posted again after the analysis finished reopens it.
  tasks_pending: ["finished", "fatal_error"],
  finished: ["tasks_pending"],
  no_selected: [],
  fatal_error: [],
};

const taskNext: Record<TaskState, readonly TaskState[]> = {
  pending: ["running", "run_completed", "fatal_error"],
  running: ["run_completed", "fatal_error"],
  run_completed: ["pending_post", "fatal_error"],
  pending_post: ["reported", "fatal_error"],
  reported: ["pending_post"],
  fatal_error: ["pending_post"],
};

/** Analyses in these states have nothing more coming from falc itself. */
export const ANALYSIS_SETTLED: readonly AnalysisState[] = ["tasks_pending", "no_selected", "fatal_error", "finished"];
export const TASK_UNFINISHED: readonly TaskState[] = ["pending", "running", "run_completed", "pending_post"];

export function canMoveAnalysis(from: AnalysisState, to: AnalysisState): boolean {
  return analysisNext[from].includes(to);
}

export function canMoveTask(from: TaskState, to: TaskState): boolean {
  return taskNext[from].includes(to);
}

export function assertAnalysisMove(id: string, from: AnalysisState, to: AnalysisState): void {
  if (!canMoveAnalysis(from, to)) throw conflict(`analysis ${id} is ${from}; it cannot become ${to}`);
}

export function assertTaskMove(id: string, from: TaskState, to: TaskState): void {
  if (!canMoveTask(from, to)) throw conflict(`task ${id} is ${from}; it cannot become ${to}`);
}
