import type { Language } from "../languages.ts";
import type { EngineName, Limits } from "../types.ts";

/** One evaluation as an engine sees it. */
export interface Job {
  id: string;
  lang: Language;
  limits: Limits;
  /** Host directory holding the code file (mounted read-only at /code). */
  codeDir: string;
  /** Host scratch directory the engine may use for its own state (bundles, runsc state). */
  stateDir: string;
}

export interface Prepared {
  argv: string[];
  /** Open file descriptors handed to the sandbox as fd 3, 4, … (bwrap's --seccomp). */
  fds?: number[];
  /**
   * The sandbox reads these bytes up to EOF on fd 3 + fds.length before it does anything at all
   * (bwrap --args: its whole command line): falc spawns it directly inside the cgroup, sets the
   * limits while it waits, then sends them.
   */
  startData?: Uint8Array;
  /** Set these rlimits on the waiting sandbox with prlimit(2) before sending startData (no prlimit exec). */
  rlimits?: Limits;
  /** Stop the sandbox gently before everything in the cgroup is killed (runsc: TERM first). */
  terminate?(pid: number): Promise<void>;
  cleanup?(): Promise<void>;
  /** Host uid/gid to start the sandbox as (bwrap: the box's own uid from falc's range, src/eval/box-uid.ts). */
  uid?: number;
  gid?: number;
}

export interface Engine {
  name: EngineName;
  /** Whether falc puts the sandbox in its own cgroup (docker has its own). */
  usesCgroup: boolean;
  /** Host cgroup pids limit for this job (gVisor's sentry and gofer threads need headroom), null for none. */
  hostPids(limits: Limits): number | null;
  /** Throws EngineUnavailable with the reason when this engine cannot run here. */
  check(): Promise<void>;
  /** `hold`: the runner will use Prepared.startData (cgroup v1 only). */
  prepare(job: Job, opts?: { hold: boolean }): Promise<Prepared>;
  /** Whether prepare() can make the sandbox wait for startData before it starts. */
  canHold?: boolean;
  /**
   * The engine boots a kernel of its own before it runs any of the program (gVisor's sentry), so
   * cgroup limits set right after the spawn are in place long before untrusted code runs.
   */
  bootsBeforeProgram?: boolean;
}

/** Where a program's code sits inside every sandbox, and its working directory. */
export const CODE_DIR = "/code";
export const WORK_DIR = "/work";

export function commandArgv(job: Job): string[] {
  if (job.lang.exec) return [...job.lang.argv];
  return [...job.lang.argv, `${CODE_DIR}/${job.lang.file}`];
}

export const SANDBOX_ENV: Record<string, string> = {
  PATH: "/usr/local/bin:/usr/bin:/bin",
  HOME: WORK_DIR,
  TMPDIR: "/tmp",
  LANG: "C.UTF-8",
  PYTHONDONTWRITEBYTECODE: "1",
  BUN_INSTALL_CACHE_DIR: "/tmp/bun-cache",
  NO_COLOR: "1",
};

/** Is an executable on PATH (no shell)? */
export function which(cmd: string): string | null {
  return Bun.which(cmd);
}
