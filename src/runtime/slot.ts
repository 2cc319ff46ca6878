import type { ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import type { Task } from "../core/task.ts";
import type { WorkerState } from "../core/worker-state.ts";
import { signalGroup } from "../core/process-group.ts";

/** One child worker process as the handler sees it. */
export interface Slot {
  /** `<stage><n>`, as Cuckoo3 names workers. */
  name: string;
  /** Unique across handlers and hosts: the queue's lease holder and the registry key. */
  id: string;
  stage: string;
  socketPath: string;
  proc: ChildProcess | null;
  sock: Socket | null;
  state: WorkerState;
  since: number;
  spawnedAt: number;
  restarts: number;
  setupFailures: number;
  crashStreak: number;
  error: string | null;
  defaultTimeoutS?: number;
  task: Task | null;
  /** The run in `task` is being stopped: its messages are ignored, its lease still renewed until its group is gone. */
  ending: boolean;
  /** When the current run was handed to the child (epoch ms). */
  runStartedAt: number;
  /** The process group of the current child (its pid: the handler starts it detached). */
  pgid: number;
  claiming: boolean;
  timers: {
    heartbeat?: ReturnType<typeof setInterval>;
    deadline?: ReturnType<typeof setTimeout>;
    cancelKill?: ReturnType<typeof setTimeout>;
    restart?: ReturnType<typeof setTimeout>;
    connect?: ReturnType<typeof setTimeout>;
  };
}

export function clearTaskTimers(s: Slot): void {
  if (s.timers.heartbeat) clearInterval(s.timers.heartbeat);
  if (s.timers.deadline) clearTimeout(s.timers.deadline);
  if (s.timers.cancelKill) clearTimeout(s.timers.cancelKill);
  s.timers.heartbeat = s.timers.deadline = s.timers.cancelKill = undefined;
}

/** Signal the child's whole process group (it runs nmap, runsc… below it), even after the child itself died. */
export function killGroup(s: Slot, signal: NodeJS.Signals): void {
  if (s.pgid > 1) signalGroup(s.pgid, signal);
}
