/** Worker states, as Cuckoo3 names them plus the ones a robust handler needs. */
export const WORKER_STATES = ["setup", "idle", "working", "stopped", "setup_failed", "restarting"] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

export interface WorkerRecord {
  /** `<stage><n>` for children, `handler@<host>:<pid>` for handlers. */
  name: string;
  kind: "handler" | "child";
  host: string;
  pid: number;
  stage: string;
  state: WorkerState;
  taskId: string | null;
  /** When the current state (or task) began, epoch ms. */
  since: number;
  heartbeatAt: number;
  restarts: number;
  handler: string | null;
  error: string | null;
}
