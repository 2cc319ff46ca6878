import { closeSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { constants } from "node:os";
import type { Logger } from "../core/logger.ts";
import { silentLogger } from "../core/logger.ts";
import { errorLine } from "../core/errors.ts";
import { CappedCapture } from "./capture.ts";
import { setRlimits } from "./rlimits.ts";
import { defaultTmpRoot, ensurePrivateRoot } from "./tmproot.ts";
import { cgroupVersion, EvalCgroup, sweepStale } from "./cgroup.ts";
import { sweepBoxUids } from "./box-uid.ts";
import { ENGINES, DEFAULT_ORDER } from "./engines/index.ts";
import type { Engine } from "./engines/engine.ts";
import { DEFAULT_LANGUAGES, resolveLanguage, type Language } from "./languages.ts";
import { buildLimits } from "./limits.ts";
import { evalId } from "./ids.ts";
import type { GvisorPool } from "./pool.ts";
import { EngineUnavailable, type Limits, type EngineFallback, type EngineName, type EvalRequest, type EvalResult, type EvalStatus } from "./types.ts";

export interface RunOptions {
  languages?: Record<string, Language>;
  /** Engine order for `auto` (and the fallback chain after an explicit engine when allowFallback). */
  order?: EngineName[];
  /** Fall back to the next engine when the chosen one is unavailable (default: only for auto). */
  fallback?: boolean;
  tmpRoot?: string;
  /** gVisor warm pool: sandboxes booted ahead (see pool.ts); without one gVisor boots per evaluation. */
  pool?: GvisorPool;
  /** Limits of a compiled language's compile step (default DEFAULT_COMPILE_LIMITS). */
  compileLimits?: Limits;
  log?: Logger;
  signal?: AbortSignal;
}

const signalNames = new Map<number, string>(Object.entries(constants.signals).map(([k, v]) => [v as number, k]));

/** CPU time over the limit allowed before falc's own watchdog kills (sandbox start-up is counted too). */
const CPU_GRACE_MS = 250;

const swept = new Set<string>();

function baseResult(engine: EngineName | null, fallbacks: EngineFallback[]): EvalResult {
  return { status: "error", exit_code: null, signal: null, stdout: "", stderr: "", truncated: { stdout: false, stderr: false }, duration_ms: 0, cpu_ms: null, max_rss_kb: null, engine, fallbacks };
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
}

/** Pick the engine: the chosen one, or the first available in order; every skip is recorded. */
export async function selectEngine(req: Pick<EvalRequest, "engine">, opts: RunOptions = {}): Promise<{ engine: Engine | null; fallbacks: EngineFallback[] }> {
  const order = opts.order ?? DEFAULT_ORDER;
  const chain: EngineName[] = req.engine === "auto" ? order : opts.fallback ? [req.engine, ...order.filter((e) => e !== req.engine)] : [req.engine];
  const fallbacks: EngineFallback[] = [];
  for (const name of chain) {
    try {
      await ENGINES[name].check();
      if (fallbacks.length) (opts.log ?? silentLogger).warn({ event: "engine_fallback", engine: name, skipped: fallbacks }, `engine ${name} used after ${fallbacks.map((f) => `${f.engine} (${f.reason})`).join(", ")}`);
      return { engine: ENGINES[name], fallbacks };
    } catch (e) {
      fallbacks.push({ engine: name, reason: e instanceof EngineUnavailable ? e.message : errorLine(e) });
    }
  }
  return { engine: null, fallbacks };
}

/**
 * Run untrusted code once in a sandbox with limits. Never throws for anything the code does:
 * every outcome is a result with a status. Output is captured even on timeout; the cgroup,
 * temp dirs and engine state are removed even when the sandbox had to be killed.
 */
export async function runEval(req: EvalRequest, opts: RunOptions = {}): Promise<EvalResult> {
  const { lang } = resolveLanguage(req.language, opts.languages ?? DEFAULT_LANGUAGES);
  if (!lang.compile) return (await runSandbox(req, lang, opts)).result;
  return compileAndRun(req, lang, opts);
}

/**
 * A compiled language: the compiler runs in a sandbox of its own with the compile limits, writing
 * its diagnostics to stderr and the binary to stdout (`cat` of {out}: no host directory is shared
 * with the sandbox); then the binary runs in a fresh sandbox on the same engine with the task's
 * limits. A compiler that fails or hits a limit gives compile_error with its output kept.
 */
async function compileAndRun(req: EvalRequest, lang: Language, opts: RunOptions): Promise<EvalResult> {
  const out = "/tmp/falc-main";
  const src = `/code/${lang.file}`;
  const cc = lang.compile!.map((a) => a.replaceAll("{src}", src).replaceAll("{out}", out));
  const compiler: Language = { argv: ["/bin/sh", "-c", `"$@" 1>&2 && exec cat ${out}`, "sh", ...cc], file: lang.file, exec: true };
  const c = await runSandbox({ ...req, stdin: undefined, limits: opts.compileLimits ?? DEFAULT_COMPILE_LIMITS }, compiler, opts);
  if (c.result.status !== "completed") {
    const r = c.result;
    if (r.engine === null) return r;
    const why = r.status === "failed" ? `the compiler exited with ${r.exit_code ?? r.signal}` : `the compiler hit a limit: ${r.status}${r.reason ? ` (${r.reason})` : ""}`;
    return { ...r, status: r.status === "error" ? "error" : "compile_error", reason: r.status === "error" ? r.reason : why, stdout: "", stdout_b64: undefined, compile_output: r.stderr };
  }
  const run = await runSandbox({ ...req, engine: c.result.engine!, code: c.stdout }, { argv: lang.argv, file: "main", exec: true }, { ...opts, fallback: false });
  const r = run.result;
  r.fallbacks = c.result.fallbacks;
  r.compile_output = c.result.stderr;
  return r;
}

/** Everything limited for the compile step: compilers need more memory and time than most programs. */
export const DEFAULT_COMPILE_LIMITS: Limits = buildLimits({ timeout: 30, cpu: 30, memory: 1024, pids: 32, output_kb: 64 * 1024, file_mb: 128, disk_mb: 256 });

async function runSandbox(req: EvalRequest, lang: Language, opts: RunOptions): Promise<{ result: EvalResult; stdout: Uint8Array }> {
  const log = opts.log ?? silentLogger;
  const started = performance.now();
  let stdoutBytes: Uint8Array = new Uint8Array();
  const { engine, fallbacks } = await selectEngine(req, opts);
  if (!engine) {
    const r = baseResult(null, fallbacks);
    r.reason = `no engine available: ${fallbacks.map((f) => `${f.engine}: ${f.reason}`).join("; ")}`;
    return { result: r, stdout: stdoutBytes };
  }
  const id = evalId();
  const tmpRoot = opts.tmpRoot ?? defaultTmpRoot();
  ensurePrivateRoot(tmpRoot);
  if (!swept.has(tmpRoot)) {
    swept.add(tmpRoot);
    await sweepStale(tmpRoot, log).catch(() => {});
    if (process.getuid?.() === 0) sweepBoxUids();
  }
  const dir = mkdtempSync(join(tmpRoot, `${id}-`));
  const codeDir = join(dir, "code");
  const stateDir = join(dir, "state");
  mkdirSync(codeDir, { mode: 0o755 });
  mkdirSync(stateDir, { mode: 0o700 });
  writeFileSync(join(codeDir, lang.file), req.code, { mode: lang.exec && typeof req.code !== "string" ? 0o755 : 0o644 });

  const result = baseResult(engine.name, fallbacks);
  let cg: EvalCgroup | null = null;
  let prepared: Awaited<ReturnType<Engine["prepare"]>> | null = null;
  try {
    // Cgroup v1: the sandbox is born inside its cgroup (falc's thread steps in for the spawn, no
    // cgexec exec and no process move, see EvalCgroup.spawnInside); the limits are set once falc's
    // thread is out again. bwrap waits for its command line until then; runsc runs nothing of the
    // program before its sentry has booted (≥ 50 ms), long after the limits are set in this tick.
    // gVisor with a warm pool: a sandbox booted ahead runs the program (runsc exec) in its own
    // cgroup, which now gets this evaluation's limits; it is destroyed afterwards like any other.
    const pooled = engine.name === "gvisor" && opts.pool ? opts.pool.take(req.limits) : null;
    result.pooled = pooled !== null || undefined;
    const inside = !pooled && engine.usesCgroup && cgroupVersion() === 1 && (engine.canHold === true || engine.bootsBeforeProgram === true);
    const hold = inside && engine.canHold === true;
    const job = { id, lang, limits: req.limits, codeDir, stateDir };
    if (pooled) {
      cg = pooled.cgroup;
      prepared = pooled.prepare(job, () => opts.pool!.fill());
    } else {
      if (engine.usesCgroup) cg = new EvalCgroup(id, { memoryBytes: req.limits.memoryBytes, pids: engine.hostPids(req.limits) }, inside, log);
      prepared = await engine.prepare(job, { hold });
    }
    const fds = prepared.fds ?? [];
    const startData = hold ? prepared.startData : undefined;
    const argv = inside || pooled ? prepared.argv : [...(cg?.execPrefix() ?? []), ...prepared.argv];
    log.debug({ event: "eval_start", engine: engine.name, eval_id: id, argv }, "sandbox starting");
    const t0 = performance.now();
    const spawn = () =>
      Bun.spawn(argv, {
        stdio: [req.stdin ?? "ignore", "pipe", "pipe", ...fds, ...(startData ? (["pipe"] as const) : [])],
        env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
        // Bun sets the ids (and clears supplementary groups) in the child before exec.
        ...(prepared!.uid !== undefined ? { uid: prepared!.uid, gid: prepared!.gid } : {}),
      });
    // A pooled sandbox is already running, blocked on its stdin: it gets the program's line.
    const proc = pooled ? pooled.proc : inside ? cg!.spawnInside(spawn) : spawn();
    if (pooled) pooled.launch(job, req.stdin);
    if (inside) {
      const startFd = startData ? (proc as unknown as { stdio: (number | null)[] }).stdio[3 + fds.length]! : null;
      try {
        // Fail closed should Bun ever fork from another thread than the one moved into the cgroup.
        if (!cg!.holds(proc.pid)) throw new Error("the sandbox was not born in its cgroup");
        cg!.applyLimits();
        if (prepared.rlimits) setRlimits(proc.pid, prepared.rlimits);
        if (startFd !== null) writeAll(startFd, startData!);
      } catch (e) {
        try { proc.kill("SIGKILL"); } catch {}
        cg!.killAll();
        await proc.exited;
        throw e;
      } finally {
        if (startFd !== null) try { closeSync(startFd); } catch {}
      }
    }
    let killedFor: "wall" | "cpu" | "output" | "abort" | null = null;
    let killing: Promise<void> | null = null;
    const kill = (why: "wall" | "cpu" | "output" | "abort") => {
      if (killedFor) return;
      killedFor = why;
      killing = (async () => {
        if (prepared?.terminate) await prepared.terminate(proc.pid).catch(() => {});
        cg?.killAll();
        try { proc.kill("SIGKILL"); } catch {}
      })();
    };
    const out = new CappedCapture(req.limits.outputBytes, () => kill("output"));
    const err = new CappedCapture(req.limits.outputBytes, () => kill("output"));
    const timer = setTimeout(() => kill("wall"), req.limits.wallMs);
    // RLIMIT_CPU is the first line (bwrap); gVisor does not enforce it, so falc also watches the cgroup's CPU time.
    const cpuWatch = cg ? setInterval(() => {
      const ms = cg!.stats().cpuMs;
      if (ms !== null && ms > req.limits.cpuMs + CPU_GRACE_MS) kill("cpu");
    }, 100) : null;
    const onAbort = () => kill("abort");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    const [, , exitCode] = await Promise.all([out.drain(proc.stdout as ReadableStream<Uint8Array>), err.drain(proc.stderr as ReadableStream<Uint8Array>), proc.exited]);
    clearTimeout(timer);
    if (cpuWatch) clearInterval(cpuWatch);
    opts.signal?.removeEventListener("abort", onAbort);
    if (killing) await killing;
    result.duration_ms = Math.round(performance.now() - t0);
    // Output that is not valid UTF-8 also comes back exactly, as base64 (stdout stays a readable preview).
    const o = out.decoded(), e = err.decoded();
    stdoutBytes = out.bytes();
    result.stdout = o.text;
    result.stderr = e.text;
    if (o.b64 !== undefined) result.stdout_b64 = o.b64;
    if (e.b64 !== undefined) result.stderr_b64 = e.b64;
    result.truncated = { stdout: out.truncated, stderr: err.truncated };

    // bwrap and runsc report a program killed by a signal as 128+n.
    let sig: number | null = proc.signalCode ? (constants.signals as Record<string, number>)[proc.signalCode] ?? null : null;
    let code: number | null = sig === null ? exitCode : null;
    if (code !== null && code > 128 && code <= 128 + 64) sig = code - 128;
    result.exit_code = code;
    result.signal = sig !== null ? signalNames.get(sig) ?? String(sig) : null;
    // falc ended it: SIGKILL to everything in its cgroup, whatever the engine makes of it (runsc
    // reports its own exit status), so a timeout reads the same on every engine.
    if (killedFor) {
      result.exit_code = null;
      result.signal = "SIGKILL";
    }

    const st = cg?.stats();
    result.cpu_ms = st?.cpuMs ?? null;
    result.max_rss_kb = st?.maxRssKb ?? null;
    // RLIMIT_CPU ends a program with SIGKILL (Linux, soft = hard) or SIGXCPU (gVisor). Either is
    // the CPU limit only when the CPU time was spent: a program can send itself either, and that is
    // its own failure. The kernel's tick-sampled process time runs ahead of the cgroup's exact
    // count (856 ms in the cgroup at a 1 s kill under load here), hence 0.75.
    const cpuSpent = result.cpu_ms !== null && result.cpu_ms >= 0.75 * req.limits.cpuMs;
    const cpuHit = killedFor === "cpu" || (cpuSpent && (result.signal === "SIGKILL" || result.signal === "SIGXCPU"));
    let status: EvalStatus;
    if (killedFor === "abort") { status = "error"; result.reason = "cancelled"; }
    else if (killedFor === "output") { status = "output_limit"; result.reason = `output over ${req.limits.outputBytes} bytes`; }
    else if (st?.oomKilled) { status = "memory_limit"; result.reason = `memory over ${Math.round(req.limits.memoryBytes / 1048576)} MB`; }
    else if (killedFor === "wall") { status = "timeout"; result.reason = `wall time over ${req.limits.wallMs} ms`; }
    else if (cpuHit) { status = "timeout"; result.reason = `CPU time over ${req.limits.cpuMs} ms`; }
    else status = code === 0 ? "completed" : "failed";
    result.status = status;
  } catch (e) {
    result.status = "error";
    result.reason = errorLine(e);
    result.duration_ms = Math.round(performance.now() - started);
  } finally {
    if (cg) await cg.destroyAsync().catch(() => {});
    if (prepared?.cleanup) await prepared.cleanup().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  log.debug({ event: "eval_done", eval_id: id, engine: engine.name, status: result.status, duration_ms: result.duration_ms }, "eval finished");
  return { result, stdout: stdoutBytes };
}
