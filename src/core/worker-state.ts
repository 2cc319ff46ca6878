/** Worker states, as Cuckoo3 names them plus the ones a robust handler needs. */
export const WORKER_STATES = ["setup", "idle", "working", "stopped", "setup_failed", "restarting"] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

export interface WorkerRecord {
  /** `<stage><n>` for children, `handler@<host>:<pid>` for handlers. */
  name: string;
  kind: "handler" | "child";
  /** The node id (src/core/node-id.ts): config `node:`, else host name + FALC_HOME hash. */
  host: string;
  /** Tells holders of one node id apart (machine and FALC_HOME); two fingerprints under one id is a misconfiguration. */
  fingerprint?: string;
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
