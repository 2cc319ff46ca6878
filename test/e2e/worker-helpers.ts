import { join } from "node:path";
import { FALC, freePort, runFalc, waitFor } from "./helpers.ts";

export const TEST_STAGE = join(import.meta.dir, "../../fixtures/stages/test-stage.ts");

export interface WorkerProc {
  proc: ReturnType<typeof Bun.spawn>;
  port: number;
  stderr(): string;
  health(): Promise<{ status: string; workers: { name: string; state: string; pid: number | null; task_id: string | null; restarts: number; error: string | null }[]; counters: Record<string, number> }>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Start `falc worker` on the test stage with JSON logs and a private health port. */
export async function startWorker(home: string, args: string[], env: Record<string, string> = {}): Promise<WorkerProc> {
  const port = await freePort();
  const proc = Bun.spawn([FALC, "worker", "--stage-path", TEST_STAGE, "--health-port", String(port), "--no-tui", "--log-level", "info", ...args], {
    env: { ...process.env, FALC_HOME: home, NO_COLOR: "1", ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let err = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += dec.decode(chunk);
  })();
  const w: WorkerProc = {
    proc,
    port,
    stderr: () => err,
    health: async () => (await fetch(`http://127.0.0.1:${port}/health`)).json() as never,
    stop: async (signal = "SIGTERM") => {
      proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 20_000);
      const code = await proc.exited;
      clearTimeout(t);
      return code;
    },
  };
  await waitFor(async () => (await w.health().catch(() => null))?.workers.every((x) => x.state !== "setup") || proc.exitCode !== null, 30_000, 50, "workers set up");
  return w;
}

export async function submit(home: string, payload: unknown, extra: string[] = []): Promise<string[]> {
  const r = await runFalc(["tasks", "submit", "teststage", "--stage-path", TEST_STAGE, "--payload", JSON.stringify(payload), "--json", ...extra], { env: { FALC_HOME: home } });
  if (r.code !== 0) throw new Error(`submit failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  return (Array.isArray(out) ? out : [out]).map((t: { id: string }) => t.id);
}

export async function tasksJson(home: string, status?: string): Promise<{ id: string; status: string; attempts: number; error: { message: string; code?: string } | null; result: unknown }[]> {
  const r = await runFalc(["tasks", "list", "--json", "--limit", "100000", ...(status ? ["--status", status] : [])], { env: { FALC_HOME: home } });
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

export async function stats(home: string): Promise<Record<string, Record<string, number>>> {
  return JSON.parse((await runFalc(["tasks", "stats", "--json"], { env: { FALC_HOME: home } })).stdout);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
