import { execa, type ResultPromise } from "execa";
import { FalcError, unavailable } from "./errors.ts";
import { killProcessGroup, liveStat } from "./process-group.ts";

/**
 * The one way falc runs and stops external programs (nmap, yara, tcpdump, runsc, bwrap outside the eval hot path).
 *
 * Every program starts in its own process group, so stopping it stops what it started too: TERM to the group,
 * then KILL after `killGraceMs`, and the call resolves only when no member of the group is left alive. The same
 * happens when the falc process exits (execa's cleanup). argv is an array: never a shell.
 */
export interface RunOptions {
  cwd?: string;
  /** Added to (not replacing) the environment unless `cleanEnv`. */
  env?: Record<string, string | undefined>;
  cleanEnv?: boolean;
  input?: string | Uint8Array;
  /** Aborting stops the program (TERM, then KILL after killGraceMs). */
  signal?: AbortSignal;
  /** Wall-clock limit in ms; over it the program is stopped and `timedOut` is set. */
  timeoutMs?: number;
  /** Between TERM and KILL (default 2000 ms). */
  killGraceMs?: number;
  /** "buffer" returns stdout as bytes. */
  encoding?: "utf8" | "buffer";
  stdout?: "pipe" | "ignore" | "inherit";
  stderr?: "pipe" | "ignore" | "inherit";
  /** Called for each complete stdout line as it arrives (stdout is still returned). */
  onStdoutLine?: (line: string) => void;
  /** Largest stdout/stderr kept, in bytes (default 256 MiB). */
  maxBuffer?: number;
  /**
   * Stay in falc's own process group instead of leading a new one, so that a kill of falc's group
   * (a worker handler stopping its child, even with SIGKILL) reaches the program too; it is then
   * stopped by its pid (TERM, then KILL). Only for programs that start nothing of their own (nmap).
   */
  sameGroup?: boolean;
}

export interface RunResult<O = string> {
  exitCode: number | null;
  /** Signal name when the program was ended by one. */
  signal: string | null;
  stdout: O;
  stderr: string;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  pid: number | undefined;
}

/** The program could not be started at all (not installed, not executable). */
export function programMissing(program: string, why: string): FalcError {
  return unavailable(`cannot run ${program}: ${why}`, { program });
}

export interface StartedProgram {
  /** Its pid, which is also its process group id. */
  pid: number | undefined;
  /** Resolves when the program has ended and its whole group is gone. */
  result: Promise<RunResult<string | Uint8Array>>;
  /** Stop it and everything it started; resolves when the group is gone. */
  stop(graceMs?: number): Promise<boolean>;
  /** The execa subprocess, for streaming stdin/stdout. */
  subprocess: ResultPromise;
}

export function startProgram(argv: readonly string[], opts: RunOptions = {}): StartedProgram {
  if (argv.length === 0) throw new Error("startProgram needs a program");
  const [file, ...args] = argv;
  const grace = opts.killGraceMs ?? 2000;
  const started = Date.now();
  const sub = execa(file!, args, {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: !opts.cleanEnv,
    input: opts.input,
    // Own process group: killDescendants makes execa spawn detached and signal -pid.
    killDescendants: !opts.sameGroup,
    forceKillAfterDelay: grace,
    cleanup: true,
    reject: false,
    stripFinalNewline: false,
    encoding: opts.encoding === "buffer" ? "buffer" : "utf8",
    stdout: opts.stdout ?? "pipe",
    stderr: opts.stderr ?? "pipe",
    stdin: opts.input === undefined ? "ignore" : "pipe",
    maxBuffer: opts.maxBuffer ?? 256 * 1024 * 1024,
  }) as unknown as ResultPromise;
  const pid = sub.pid;
  let stoppedBy: "timeout" | "cancel" | null = null;
  const stop = async (g = grace): Promise<boolean> => {
    if (pid === undefined) return true;
    return opts.sameGroup ? killProcess(pid, g) : killProcessGroup(pid, g);
  };
  const onAbort = () => {
    stoppedBy ??= "cancel";
    void stop();
  };
  if (opts.signal) {
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener("abort", onAbort, { once: true });
  }
  const timer = opts.timeoutMs && opts.timeoutMs > 0
    ? setTimeout(() => {
        stoppedBy ??= "timeout";
        void stop();
      }, opts.timeoutMs)
    : null;
  // Members left behind by a leader that has exited would hold the pipes open and the call with them:
  // the program is over, so its group goes too.
  if (!opts.sameGroup)
    (sub as unknown as { nodeChildProcess: NodeJS.EventEmitter }).nodeChildProcess.once("exit", () => {
      if (pid !== undefined) void killProcessGroup(pid, grace);
    });
  if (opts.onStdoutLine && sub.stdout) {
    let rest = "";
    const onLine = opts.onStdoutLine;
    sub.stdout.on("data", (chunk: Buffer | string) => {
      const text = rest + (typeof chunk === "string" ? chunk : chunk.toString("utf8"));
      const lines = text.split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) onLine(l);
    });
    sub.stdout.on("end", () => {
      if (rest) onLine(rest);
    });
  }
  const result = (async () => {
    const r = await sub;
    if (timer) clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    const code = (r as { code?: string }).code;
    if (r.failed && r.exitCode === undefined && r.signal === undefined && (code === "ENOENT" || code === "EACCES")) {
      throw programMissing(file!, code === "ENOENT" ? "not installed or not on PATH" : "permission denied");
    }
    // The leader may be gone while what it started lives on: the call ends with the whole group.
    if (pid !== undefined && !opts.sameGroup) await killProcessGroup(pid, stoppedBy ? 0 : grace);
    return {
      exitCode: r.exitCode ?? null,
      signal: r.signal ?? null,
      stdout: r.stdout as unknown as string | Uint8Array,
      stderr: typeof r.stderr === "string" ? r.stderr : Buffer.from(r.stderr as unknown as Uint8Array).toString("utf8"),
      timedOut: stoppedBy === "timeout",
      cancelled: stoppedBy === "cancel",
      durationMs: Date.now() - started,
      pid,
    };
  })();
  return { pid, result, stop, subprocess: sub };
}

/** Whether `pid` is a live (non-zombie) process. */
const alive = (pid: number) => liveStat(pid) !== null;

/** TERM one process, KILL it after `graceMs`, resolve once it is gone (false if it survives KILL for 5 s). */
async function killProcess(pid: number, graceMs: number): Promise<boolean> {
  const send = (sig: NodeJS.Signals) => { try { process.kill(pid, sig); } catch {} };
  const gone = async (ms: number) => {
    for (const end = Date.now() + ms; Date.now() < end; await Bun.sleep(10)) if (!alive(pid)) return true;
    return !alive(pid);
  };
  if (!alive(pid)) return true;
  if (graceMs > 0) {
    send("SIGTERM");
    if (await gone(graceMs)) return true;
  }
  send("SIGKILL");
  return gone(5000);
}

/** Run a program to its end (see RunOptions); never throws for a non-zero exit, only when it cannot start. */
export async function runProgram(argv: readonly string[], opts: RunOptions & { encoding: "buffer" }): Promise<RunResult<Uint8Array>>;
export async function runProgram(argv: readonly string[], opts?: RunOptions): Promise<RunResult<string>>;
export async function runProgram(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult<string | Uint8Array>> {
  return startProgram(argv, opts).result;
}
