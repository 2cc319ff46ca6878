import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { dirname, join } from "node:path";
import type { Config } from "../core/config.ts";
import { toErrorInfo, FalcError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { StageHandler } from "../core/stage.ts";
import type { Task } from "../core/task.ts";
import { homePaths } from "../core/paths.ts";
import { openQueue } from "../queue/open.ts";
import type { Queue } from "../queue/types.ts";
import { StageRegistry } from "../stages/registry.ts";
import { FenceThread } from "./fence-thread.ts";
import { handlerMessage, LineDecoder, monoMs, sendLine, type ChildMessage } from "./ipc.ts";

/** The run in progress: its task, the attempt token it answers for, and its lease fence. */
interface Run {
  id: string;
  token: number;
  abort: AbortController;
  fence?: ReturnType<typeof setTimeout>;
}

export interface ChildOptions {
  name: string;
  stage: string;
  socketPath: string;
  config: Config;
  log: Logger;
  stagePaths: string[];
}

/**
 * A worker child (Cuckoo3's worker process): listens on its own unix socket, takes one handler
 * connection, sets its stage up, then runs one task at a time as the handler sends them.
 * It exits when the handler goes away, so a killed handler leaves no orphans working.
 */
export async function runChild(opts: ChildOptions): Promise<number> {
  const { log, name } = opts;
  mkdirSync(dirname(opts.socketPath), { recursive: true, mode: 0o700 });
  if (existsSync(opts.socketPath)) unlinkSync(opts.socketPath);

  let handlerSock: Socket | null = null;
  let stage: StageHandler | null = null;
  let queue: Queue | undefined;
  let current: Run | null = null;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));

  const send = (m: ChildMessage) => handlerSock && sendLine(handlerSock, m);

  // The run may go on only while the handler vouches for the lease: past that, the queue may hand the task to
  // another worker, so this child stops the run the only sure way, by killing its own process group.
  const backstop = new FenceThread(ownGroup() === process.pid ? process.pid : 0);
  const fenceUntil = (run: Run, untilMono: number | undefined) => {
    if (untilMono === undefined) return;
    backstop.set(untilMono);
    if (run.fence) clearTimeout(run.fence);
    run.fence = setTimeout(() => {
      if (current !== run) return;
      log.error(
        { event: "lease_unconfirmed", task_id: run.id, token: run.token },
        "the handler did not confirm the lease in time; killing this run so that it cannot overlap a retry elsewhere",
      );
      killOwnGroup();
    }, Math.max(0, untilMono - monoMs()));
  };

  const setup = async () => {
    try {
      const registry = new StageRegistry();
      await registry.addPaths(opts.stagePaths);
      stage = await registry.get(opts.stage);
      await stage.setup?.({ config: opts.config, home: opts.config.home, log, worker: name });
      queue = await openQueue(opts.config.queue, { home: opts.config.home, defaultMaxAttempts: opts.config.max_attempts, persistent: true }).catch((e) => {
        log.warn({ event: "queue_unavailable", err: (e as Error).message }, "stage runs without a queue handle");
        return undefined;
      });
      send({ type: "ready", stage: opts.stage, pid: process.pid, defaultTimeoutS: stage.defaultTimeoutS });
      log.debug({ event: "worker_ready", stage: opts.stage }, "ready");
    } catch (e) {
      log.error({ event: "setup_failed", stage: opts.stage, err: (e as Error).message }, "setup failed");
      send({ type: "setup_failed", error: toErrorInfo(e) });
      // Give the line time to leave before exiting.
      setTimeout(() => resolveExit(3), 100);
    }
  };

  const runTask = async (task: Task, leaseUntilMono?: number) => {
    if (!stage) return send({ type: "work_failed", task_id: task.id, error: { message: "worker is not set up" } });
    if (current) return send({ type: "work_failed", task_id: task.id, error: { message: `worker ${name} is busy with ${current.id}` }, retry: true });
    const parsed = stage.payloadSchema.safeParse(task.payload);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      return send({
        type: "work_failed",
        task_id: task.id,
        error: { message: `payload does not fit stage \`${stage.name}\`: ${i.path.join(".") || "(payload)"}: ${i.message}`, code: "invalid_input" },
        retry: false,
      });
    }
    const abort = new AbortController();
    const run: Run = { id: task.id, token: task.token ?? 0, abort };
    current = run;
    fenceUntil(run, leaseUntilMono);
    const workPath = join(homePaths(opts.config.home).run, "work", task.id);
    // Made on first use: most stages never touch it, and two filesystem calls per task add up.
    let workDirMade = false;
    const tlog = log.child({ task_id: task.id, stage: stage.name });
    try {
      const result = await stage.run(parsed.data, {
        config: opts.config,
        home: opts.config.home,
        log: tlog,
        worker: name,
        task,
        signal: abort.signal,
        queue,
        get workDir() {
          if (!workDirMade) {
            mkdirSync(workPath, { recursive: true, mode: 0o700 });
            workDirMade = true;
          }
          return workPath;
        },
        progress: (fraction, note) => current === run && send({ type: "progress", task_id: task.id, token: run.token, fraction, note }),
      });
      send({ type: "finished", task_id: task.id, token: run.token, result: result ?? null });
    } catch (e) {
      const info = toErrorInfo(e);
      if (abort.signal.aborted && !info.code) info.code = "cancelled";
      // Bad input will not get better on a retry, nor will a failure the stage says is final.
      const retry = !(e instanceof FalcError && (e.code === "invalid_input" || e.code === "usage" || e.details?.retry === false));
      send({ type: "work_failed", task_id: task.id, token: run.token, error: info, retry });
    } finally {
      if (run.fence) clearTimeout(run.fence);
      backstop.clear();
      current = null;
      if (workDirMade) rmSync(workPath, { recursive: true, force: true });
    }
  };

  const server = createServer({ allowHalfOpen: false }, (sock) => {
    if (handlerSock) {
      // One handler per child: a second peer is told so and dropped, the running work is untouched.
      log.warn({ event: "socket_refused" }, "refused a second connection on the worker socket");
      sock.end(JSON.stringify({ type: "error", message: "this worker already has a handler" }) + "\n");
      return;
    }
    handlerSock = sock;
    const decoder = new LineDecoder(handlerMessage);
    sock.on("data", (chunk) => {
      let lines;
      try {
        lines = decoder.push(chunk);
      } catch (e) {
        log.warn({ event: "ipc_error", err: (e as Error).message }, "dropping an oversized line from the handler");
        return;
      }
      for (const d of lines) {
        if (!d.ok) {
          log.warn({ event: "ipc_error", err: d.error, line: d.line }, "ignored a bad line from the handler");
          continue;
        }
        const m = d.msg;
        if (m.type === "work") void runTask(m.task as unknown as Task, m.lease_until_mono);
        else if (m.type === "lease") {
          if (current?.id === m.task_id && current.token === m.token) fenceUntil(current, m.until_mono);
        } else if (m.type === "cancel") {
          if (current?.id === m.task_id) current.abort.abort(new FalcError("work_failed", "cancelled"));
        } else if (m.type === "stop") resolveExit(0);
      }
    });
    sock.on("close", () => {
      if (current) {
        // Nobody can record this run or keep its lease: stop it and whatever it started, now.
        log.warn({ event: "handler_gone", task_id: current.id }, "the handler went away during a run; killing the run");
        killOwnGroup();
      }
      resolveExit(0);
    });
    sock.on("error", () => {});
    void setup();
  });

  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(opts.socketPath, () => res());
  });
  chmodSync(opts.socketPath, 0o700);
  // A handler that never connects (it died while starting us) must not leave us running.
  const orphanTimer = setTimeout(() => {
    if (!handlerSock) {
      log.error({ event: "no_handler" }, "no handler connected within 60 s; exiting");
      resolveExit(1);
    }
  }, 60_000);

  const code = await exited;
  clearTimeout(orphanTimer);
  backstop.stop();
  (handlerSock as Socket | null)?.destroy();
  server.close();
  try {
    unlinkSync(opts.socketPath);
  } catch {}
  await (stage as StageHandler | null)?.teardown?.();
  // Closing at exit: a failure here loses nothing (the handler recorded the work), so it is only noted.
  await queue?.close().catch((e) => log.debug({ event: "queue_close_failed", err: (e as Error).message }, "queue handle did not close cleanly"));
  return code;
}

function ownGroup(): number {
  try {
    const st = readFileSync("/proc/self/stat", "latin1");
    return Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[2]);
  } catch {
    return 0;
  }
}

/** SIGKILL this child's process group (it leads one: the handler starts it detached), itself included. */
function killOwnGroup(): never {
  const pgid = ownGroup();
  try {
    if (pgid === process.pid) process.kill(-pgid, "SIGKILL");
  } catch {}
  process.kill(process.pid, "SIGKILL");
  throw new Error("unreachable");
}
