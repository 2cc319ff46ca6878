import { existsSync } from "node:fs";
import { runProgram } from "../../core/run-program.ts";
import { EngineUnavailable, type Limits } from "../types.ts";
import { cpuSeconds } from "../limits.ts";
import { CODE_DIR, commandArgv, SANDBOX_ENV, WORK_DIR, which, type Engine, type Job, type Prepared } from "./engine.ts";

/** The Docker Engine socket: DOCKER_HOST=unix://… or the default. */
export function dockerSocket(env = process.env): string {
  const h = env.DOCKER_HOST;
  if (h?.startsWith("unix://")) return h.slice("unix://".length);
  return "/var/run/docker.sock";
}

/** Ask the Engine API whether an engine answers (GET /_ping over the unix socket). */
export async function pingDocker(socket = dockerSocket()): Promise<string | null> {
  if (!existsSync(socket)) return `no Docker engine: ${socket} does not exist`;
  try {
    const r = await fetch("http://docker/_ping", { unix: socket, signal: AbortSignal.timeout(2000) } as RequestInit);
    if (r.ok) return null;
    return `Docker engine at ${socket} answered HTTP ${r.status}`;
  } catch (e) {
    return `no Docker engine answers at ${socket} (${(e as Error).message})`;
  }
}

export const DOCKER_IMAGES: Record<string, string> = {
  "/usr/bin/python3": "python:3-slim",
  "/usr/bin/node": "node:lts-slim",
  "/usr/bin/bun": "oven/bun:slim",
  "/bin/sh": "debian:stable-slim",
};

/**
 * Docker: detected through the Engine API; runs with the docker client:
 * --network none --read-only --cap-drop ALL --pids-limit --memory, no new privileges, tmpfs /work.
 * Docker keeps its own cgroup, so falc does not create one (cpu_ms and max_rss_kb are null).
 */
export const dockerEngine: Engine = {
  name: "docker",
  usesCgroup: false,
  hostPids: () => null,
  async check() {
    if (!which("docker")) throw new EngineUnavailable("docker", "the docker client is not installed");
    const why = await pingDocker();
    if (why) throw new EngineUnavailable("docker", why);
  },
  async prepare(job: Job): Promise<Prepared> {
    const l: Limits = job.limits;
    const name = `falc-eval-${job.id}`;
    const interp = job.lang.argv[0]!;
    const image = process.env.FALC_EVAL_DOCKER_IMAGE ?? DOCKER_IMAGES[interp] ?? "debian:stable-slim";
    const argv = commandArgv(job);
    argv[0] = interp.split("/").pop()!;
    const a = ["docker", "run", "--rm", "--name", name, "--network", "none", "--read-only", "--cap-drop", "ALL",
      "--security-opt", "no-new-privileges", "--pids-limit", String(l.pids), "--memory", String(l.memoryBytes), "--memory-swap", String(l.memoryBytes),
      "--ulimit", `cpu=${cpuSeconds(l)}`, "--ulimit", `fsize=${l.fileBytes}`, "--user", "65534:65534",
      "--tmpfs", `${WORK_DIR}:rw,size=${l.diskBytes},mode=1777`, "--tmpfs", `/tmp:rw,size=${l.diskBytes},mode=1777`,
      "-v", `${job.codeDir}:${CODE_DIR}:ro`, "-w", WORK_DIR];
    for (const [k, v] of Object.entries(SANDBOX_ENV)) a.push("-e", `${k}=${v}`);
    a.push(image, ...argv);
    return {
      argv: a,
      async terminate() {
        // Outside the hot path: falc's one way to run and stop a program.
        await runProgram(["docker", "kill", name], { stdout: "ignore", stderr: "ignore", timeoutMs: 10_000 });
      },
    };
  },
};
