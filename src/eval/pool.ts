import type { Subprocess } from "bun";
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../core/logger.ts";
import { silentLogger } from "../core/logger.ts";
import { errorLine } from "../core/errors.ts";
import { runProgram } from "../core/run-program.ts";
import { cgroupVersion, EvalCgroup } from "./cgroup.ts";
import { CODE_DIR, commandArgv, type Job, type Prepared } from "./engines/engine.ts";
import { gvisorCpuSeconds } from "./limits.ts";
import { gvisorEngine, ociConfig, runscArgv, runscRun, USR_LINKS } from "./engines/gvisor.ts";
import { evalId } from "./ids.ts";
import { defaultTmpRoot, ensurePrivateRoot } from "./tmproot.ts";
import type { Limits } from "./types.ts";

/**
 * A pooled sandbox's init: a shell blocked on its stdin until falc sends one line, which lowers the
 * rlimits to the evaluation's (dash's `ulimit` sets soft and hard alike: the program cannot raise
 * them) and execs the program; what follows on stdin is the program's stdin. So an evaluation
 * costs a line on a pipe, not a `runsc exec` (a Go binary's start and a control-socket round trip).
 */
const LAUNCHER = { argv: ["/bin/sh", "-c", 'IFS= read -r line || exit 125; eval "$line"'], file: "launcher", exec: true };

const shQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The line the launcher runs for a job (built by falc from the job's limits and the language's argv). */
export function launchLine(job: Job): string {
  const l = job.limits;
  const limits = [`ulimit -t ${gvisorCpuSeconds(l)}`, `ulimit -f ${Math.floor(l.fileBytes / 512)}`, "ulimit -n 256", "ulimit -c 0", `ulimit -p ${l.pids}`];
  // `&&`: a limit that cannot be set stops the launch (exit 125) rather than run the program without it.
  return `${limits.join(" && ")} && exec ${commandArgv(job).map(shQuote).join(" ")} || exit 125\n`;
}

/** One sandbox booted ahead: used for exactly one evaluation, then destroyed. */
export class PooledSandbox {
  dead = false;
  constructor(
    readonly id: string,
    readonly dir: string,
    readonly bundle: string,
    readonly root: string,
    readonly cgroup: EvalCgroup,
    readonly proc: Subprocess,
  ) {}

  get cid(): string {
    return `falc-${this.id}`;
  }

  /**
   * The evaluation's code goes into the sandbox's read-only root (nothing there has looked at
   * /code yet, so the sentry finds it). Cleanup removes the whole sandbox directory and starts a
   * refill; the cgroup (and with it the sandbox) is killed and removed by the caller first.
   */
  prepare(job: Job, refill: () => void): Prepared {
    const dst = join(this.bundle, "rootfs", CODE_DIR.slice(1), job.lang.file);
    const src = join(job.codeDir, job.lang.file);
    try { linkSync(src, dst); } catch { copyFileSync(src, dst); }
    return {
      argv: [],
      cleanup: async () => {
        rmSync(this.dir, { recursive: true, force: true });
        // Boot the next one only now, so its boot does not compete with this evaluation for CPU.
        refill();
      },
    };
  }

  /** Start the program: the launcher's line, then its stdin, then EOF. */
  launch(job: Job, stdin?: Uint8Array): void {
    const sink = this.proc.stdin as import("bun").FileSink;
    void (async () => {
      try {
        sink.write(launchLine(job));
        if (stdin?.length) sink.write(stdin);
        await sink.end();
      } catch {
        // The program exited without reading all of its stdin: nothing to do.
      }
    })();
  }
}

export interface PoolOptions {
  /** Sandboxes kept booted (0: no pool). */
  size: number;
  /** Limits the sandboxes boot with: their tmpfs sizes are fixed then, so only evaluations with the same disk_mb use the pool. */
  bootLimits: Limits;
  tmpRoot?: string;
  log?: Logger;
}

/**
 * gVisor warm pool: `size` sandboxes booted ahead (sentry and gofer up, a pause process as init),
 * each in a cgroup of its own. An evaluation takes one, which gets the evaluation's limits and
 * runs its program with `runsc exec`; afterwards the whole sandbox is destroyed and a new one boots
 * in the background. Nothing of one evaluation can be seen by the next: it never shares a sandbox.
 * With no sandbox ready the evaluation takes the cold path (`runsc run`).
 */
export class GvisorPool {
  private ready: PooledSandbox[] = [];
  private booting = 0;
  private closed = false;
  private readonly tmpRoot: string;
  private readonly log: Logger;
  /** Boots that failed in a row: the pool stops trying after a few and says why. */
  private failures = 0;

  constructor(private readonly opts: PoolOptions) {
    this.tmpRoot = opts.tmpRoot ?? defaultTmpRoot();
    this.log = opts.log ?? silentLogger;
  }

  /** Whether a pool can work here at all (runsc, root, cgroup v1 for the peak-memory reset). */
  static async usable(): Promise<string | null> {
    try {
      await gvisorEngine.check();
    } catch (e) {
      return errorLine(e);
    }
    return cgroupVersion() === 1 ? null : "the warm pool needs cgroup v1 (memory peak reset)";
  }

  get readyCount(): number {
    return this.ready.length;
  }

  /** Start boots until `size` sandboxes are ready or booting. */
  fill(): void {
    while (!this.closed && this.failures < 3 && this.ready.length + this.booting < this.opts.size) {
      this.booting++;
      const done = this.boot()
        .then((s) => {
          this.failures = 0;
          if (this.closed) return destroy(s);
          this.ready.push(s);
        })
        .catch((e) => {
          this.failures++;
          this.log.warn({ event: "eval_pool_boot_failed", error: errorLine(e), failures: this.failures }, `a gVisor pool sandbox did not boot: ${errorLine(e)}`);
        })
        .finally(() => {
          this.booting--;
          this.inflight.delete(done);
          if (this.failures < 3) this.fill();
        });
      this.inflight.add(done);
    }
  }

  private inflight = new Set<Promise<void>>();

  /** Wait until `n` sandboxes are ready (tests, benchmarks). */
  async waitReady(n = this.opts.size, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ready.length < n) {
      if (Date.now() > deadline) throw new Error(`gVisor pool: ${this.ready.length}/${n} sandboxes ready after ${timeoutMs} ms`);
      await Bun.sleep(10);
    }
  }

  /**
   * A booted sandbox with `limits` applied, or null (none ready, or the evaluation's disk size is
   * not the pool's): the caller then boots one cold. Always starts a refill.
   */
  take(limits: Limits): PooledSandbox | null {
    try {
      if (limits.diskBytes !== this.opts.bootLimits.diskBytes) return null;
      while (this.ready.length) {
        const s = this.ready.shift()!;
        if (s.dead) {
          void destroy(s);
          continue;
        }
        try {
          s.cgroup.beginEvaluation({ memoryBytes: limits.memoryBytes, pids: gvisorEngine.hostPids(limits) });
          return s;
        } catch (e) {
          // A limit below what the idle sandbox already holds: this evaluation boots cold.
          this.log.debug({ event: "eval_pool_skip", error: errorLine(e) }, "pooled sandbox cannot take these limits");
          void destroy(s).finally(() => this.fill());
          return null;
        }
      }
      // None ready: boot more now (this evaluation takes the cold path meanwhile).
      this.fill();
      return null;
    } catch (e) {
      this.fill();
      throw e;
    }
  }

  /** Destroy every sandbox (ready ones now; booting ones as they come up). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.inflight]);
    const all = this.ready.splice(0);
    await Promise.all(all.map(destroy));
  }

  private async boot(): Promise<PooledSandbox> {
    ensurePrivateRoot(this.tmpRoot);
    const id = evalId();
    const dir = mkdtempSync(join(this.tmpRoot, `${id}-`));
    const bundle = join(dir, "bundle");
    const root = join(dir, "runsc-state");
    const codeDir = join(dir, "code");
    let cg: EvalCgroup | null = null;
    try {
      mkdirSync(join(bundle, "rootfs"), { recursive: true });
      for (const [link, target] of USR_LINKS) if (existsSync(`/${target}`)) symlinkSync(target, join(bundle, "rootfs", link));
      mkdirSync(join(bundle, "rootfs", CODE_DIR.slice(1)), { mode: 0o755 });
      chmodSync(join(bundle, "rootfs", CODE_DIR.slice(1)), 0o755);
      mkdirSync(codeDir);
      mkdirSync(root);
      // The rlimits the sandbox boots with are only ceilings for the launcher to lower per evaluation.
      const job: Job = { id, lang: LAUNCHER, limits: { ...this.opts.bootLimits, cpuMs: 3600_000, fileBytes: 64 * 1024 ** 3, pids: 4096 }, codeDir, stateDir: dir };
      writeFileSync(join(bundle, "config.json"), JSON.stringify(ociConfig(job)));
      const l = this.opts.bootLimits;
      cg = new EvalCgroup(id, { memoryBytes: l.memoryBytes, pids: gvisorEngine.hostPids(l) }, true, this.log);
      const cid = `falc-${id}`;
      // Dies with falc like any gVisor sandbox: parent-death signal on `runsc run`, sandbox attached.
      const argv = runscRun(job, root, bundle, cid);
      const proc = cg.spawnInside(() => Bun.spawn(argv, { stdio: ["pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" } }));
      cg.applyLimits();
      const s = new PooledSandbox(id, dir, bundle, root, cg, proc);
      void proc.exited.then(() => { s.dead = true; });
      // Ready once runsc reports the container running (its init, the pause, has started).
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (s.dead) throw new Error("the sandbox exited while booting");
        const st = await runProgram([...runscArgv(root), "state", cid], { timeoutMs: 5000 });
        if (st.exitCode === 0 && /"status":\s*"running"/.test(st.stdout)) return s;
        if (Date.now() > deadline) throw new Error(`not running after 20 s: ${st.stderr.trim().split("\n").pop() ?? ""}`);
        await Bun.sleep(20);
      }
    } catch (e) {
      if (cg) await cg.destroyAsync().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }
}

async function destroy(s: PooledSandbox): Promise<void> {
  await s.cgroup.destroyAsync().catch(() => {});
  rmSync(s.dir, { recursive: true, force: true });
}
