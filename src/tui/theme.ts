import type { TaskStatus } from "../core/task.ts";
import type { WorkerState } from "../core/worker-state.ts";

/** Only the 16 basic ANSI colours, so any terminal shows them; none at all with NO_COLOR. */
export type Basic =
  | "black"
  | "red"
  | "green"
  | "yellow"
  | "blue"
  | "magenta"
  | "cyan"
  | "white"
  | "gray";

export interface Theme {
  color: boolean;
  /** A colour name, or undefined when colours are off. */
  c(name: Basic): Basic | undefined;
}

export function makeTheme(
  env: Record<string, string | undefined> = process.env,
): Theme {
  const color =
    !("NO_COLOR" in env && env.NO_COLOR !== undefined && env.NO_COLOR !== "") &&
    env.TERM !== "dumb";
  return { color, c: (name) => (color ? name : undefined) };
}

export const WORKER_STATE_COLOR: Record<WorkerState, Basic> = {
  setup: "yellow",
  idle: "cyan",
  working: "green",
  stopped: "gray",
  setup_failed: "red",
  restarting: "magenta",
};

export const TASK_STATUS_COLOR: Record<TaskStatus, Basic> = {
  created: "gray",
  queued: "blue",
  requested: "yellow",
  started: "green",
  finished: "cyan",
  failed: "red",
  cancelled: "magenta",
};
