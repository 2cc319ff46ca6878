import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import type { Logger } from "../core/logger.ts";
import { Backoff } from "../core/backoff.ts";
import { join } from "node:path";
import { unavailable } from "../core/errors.ts";

const ROOT = "/sys/fs/cgroup";
const PARENT = "falc-eval";

export type CgroupVersion = 1 | 2;

export function cgroupVersion(root = ROOT): CgroupVersion | null {
  if (existsSync(join(root, "cgroup.controllers"))) return 2;
  if (existsSync(join(root, "memory", "memory.limit_in_bytes")) && existsSync(join(root, "pids"))) return 1;
  return null;
}

export interface CgroupStats {
  cpuMs: number | null;
  maxRssKb: number | null;
  oomKilled: boolean;
}

function readNum(path: string): number | null {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

function readKeyed(path: string, key: string): number | null {
  try {
    for (const line of readFileSync(path, "utf8").split("\n")) {
      const [k, v] = line.trim().split(/\s+/);
      if (k === key) return Number(v);
    }
  } catch {}
  return null;
}

/**
 * One cgroup per evaluation (v1: memory, pids, cpuacct under falc-eval/<id>; v2: falc-eval/<id>).
 * Processes enter it through `cgexec`, so everything the sandbox forks is counted from its first instruction.
 */
export class EvalCgroup {
  readonly version: CgroupVersion;
  readonly rel: string;
  private dirs: Record<string, string> = {};

  private limits: { memoryBytes: number; pids: number | null };
  /** CPU time spent before the evaluation began (a pooled sandbox's boot), left out of stats(). */
  private cpuOffsetMs = 0;

  /** `deferLimits`: create without limits; applyLimits() sets them (after spawnInside). */
  constructor(readonly id: string, opts: { memoryBytes: number; pids: number | null }, deferLimits = false, private log?: Logger) {
    this.limits = opts;
    const v = cgroupVersion();
    if (!v) throw unavailable("no cgroup v1 (memory, pids) or v2 hierarchy under /sys/fs/cgroup: cannot limit memory and processes");
    this.version = v;
    this.rel = `${PARENT}/${id}`;
    try {
      if (v === 1) {
        for (const c of ["memory", "pids", "cpuacct"]) {
          const d = join(ROOT, c, PARENT, id);
          mkdirSync(d, { recursive: true });
          this.dirs[c] = d;
        }
      } else {
        const parent = join(ROOT, PARENT);
        mkdirSync(parent, { recursive: true });
        try { writeFileSync(join(ROOT, "cgroup.subtree_control"), "+memory +pids +cpu"); } catch {}
        try { writeFileSync(join(parent, "cgroup.subtree_control"), "+memory +pids +cpu"); } catch {}
        const d = join(parent, id);
        mkdirSync(d, { recursive: true });
        this.dirs.unified = d;
      }
      if (!deferLimits) this.applyLimits();
    } catch (e) {
      this.destroy();
      throw unavailable(`cannot create the eval cgroup ${this.rel}: ${(e as Error).message}`);
    }
  }

  /**
   * Hand a pooled sandbox's cgroup to an evaluation: its limits, and the CPU time and memory peak
   * counted from now (v1; the boot's are not the program's).
   */
  beginEvaluation(opts: { memoryBytes: number; pids: number | null }): void {
    this.limits = opts;
    this.applyLimits();
    if (this.version === 1) writeFileSync(join(this.dirs.memory!, "memory.max_usage_in_bytes"), "0");
    this.cpuOffsetMs = 0;
    this.cpuOffsetMs = this.stats().cpuMs ?? 0;
  }

  /** Memory (no swap) and pids limits. */
  applyLimits(): void {
    const { memoryBytes, pids } = this.limits;
    if (this.version === 1) {
      // No swap: memsw (when the kernel has it) equals the plain limit, which may never exceed it:
      // lowering sets the plain limit first, raising (a pooled sandbox's new limits) memsw first.
      const limit = join(this.dirs.memory!, "memory.limit_in_bytes");
      const memsw = join(this.dirs.memory!, "memory.memsw.limit_in_bytes");
      const hasMemsw = existsSync(memsw);
      const raising = hasMemsw && (readNum(memsw) ?? 0) < memoryBytes;
      if (raising) writeFileSync(memsw, String(memoryBytes));
      writeFileSync(limit, String(memoryBytes));
      if (hasMemsw && !raising) writeFileSync(memsw, String(memoryBytes));
      if (!hasMemsw) this.swapUnlimited("this kernel has no memory.memsw.limit_in_bytes (booted without swapaccount=1)");
      if (pids !== null) writeFileSync(join(this.dirs.pids!, "pids.max"), String(pids));
    } else {
      const d = this.dirs.unified!;
      writeFileSync(join(d, "memory.max"), String(memoryBytes));
      try {
        writeFileSync(join(d, "memory.swap.max"), "0");
      } catch (e) {
        this.swapUnlimited(`memory.swap.max cannot be set (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      if (pids !== null) writeFileSync(join(d, "pids.max"), String(pids));
    }
  }

  private swapUnlimited(why: string): void {
    if (!swapWarned) swapWarned = warnSwapUnlimited(why, this.log);
  }

  /**
   * Run `spawn` (a synchronous Bun.spawn) with the calling thread briefly inside the cgroup, so the
   * child is born in it without a cgexec exec. Call before applyLimits() (falc itself must not count
   * against the sandbox's pids or memory), and hold the sandbox (bwrap --args) so nothing of the
   * program runs until the limits are set.
   *
   * v1 moves only this thread (`echo 0 > tasks`), not the whole process: a process move takes the
   * kernel's global threadgroup lock, whose first writer after a quiet spell waits out an RCU grace
   * period (measured 6–15 ms here, every eval); moving the current thread skips that lock. A child
   * is born in the cgroups of the thread that forks it. A thread Bun happens to start inside the
   * window would stay behind in the sandbox's cgroup, so any such thread is moved back afterwards.
   */
  spawnInside<T>(spawn: () => T): T {
    // Only v1 runs here (run.ts starts the sandbox through cgexec on v2).
    if (this.version !== 1) throw new Error("spawnInside is for cgroup v1");
    const own = ownThreadCgroups();
    const ctrls = ["memory", "pids", "cpuacct"];
    let moved = 0;
    try {
      for (const c of ctrls) {
        writeFileSync(join(this.dirs[c]!, "tasks"), "0");
        moved++;
      }
      return spawn();
    } finally {
      for (const c of ctrls.slice(0, moved)) writeFileSync(join(ROOT, c, own[c] ?? "/", "tasks"), "0");
      for (const c of ctrls.slice(0, moved)) {
        for (const tid of readLines(join(this.dirs[c]!, "tasks"))) {
          if (existsSync(`/proc/self/task/${tid}`)) writeFileSync(join(ROOT, c, own[c] ?? "/", "tasks"), tid);
        }
      }
    }
  }

  /** argv prefix that starts a command inside this cgroup. */
  execPrefix(): string[] {
    return ["cgexec", "-g", `${this.version === 1 ? "memory,pids,cpuacct" : "memory,pids"}:${this.rel}`];
  }

  stats(): CgroupStats {
    if (this.version === 1) {
      const ns = readNum(join(this.dirs.cpuacct!, "cpuacct.usage"));
      const peak = readNum(join(this.dirs.memory!, "memory.max_usage_in_bytes"));
      const oom = readKeyed(join(this.dirs.memory!, "memory.oom_control"), "oom_kill");
      const fail = readNum(join(this.dirs.memory!, "memory.failcnt"));
      return { cpuMs: ns === null ? null : Math.round(ns / 1e6) - this.cpuOffsetMs, maxRssKb: peak === null ? null : Math.round(peak / 1024), oomKilled: (oom ?? 0) > 0 || (oom === null && (fail ?? 0) > 0) };
    }
    const d = this.dirs.unified!;
    const us = readKeyed(join(d, "cpu.stat"), "usage_usec");
    const peak = readNum(join(d, "memory.peak"));
    const oom = readKeyed(join(d, "memory.events"), "oom_kill");
    return { cpuMs: us === null ? null : Math.round(us / 1000) - this.cpuOffsetMs, maxRssKb: peak === null ? null : Math.round(peak / 1024), oomKilled: (oom ?? 0) > 0 };
  }

  pids(): number[] {
    const d = this.version === 1 ? this.dirs.pids : this.dirs.unified;
    if (!d) return [];
    try {
      return readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** SIGKILL everything still in the cgroup (v2: cgroup.kill). */
  killAll(): void {
    if (this.version === 2 && this.dirs.unified) {
      try { writeFileSync(join(this.dirs.unified, "cgroup.kill"), "1"); return; } catch {}
    }
    for (const pid of this.pids()) {
      if (pid === process.pid) continue;
      try { process.kill(pid, "SIGKILL"); } catch {}
    }
  }

  /**
   * Kill what is left and remove the directories; retries while the kernel reaps. bwrap reports the
   * program's exit before its pid 1 has finished tearing the sandbox's mounts down (0–25 ms here,
   * in a third of runs), so the wait starts short and grows instead of a flat 10 ms sleep.
   */
  async destroyAsync(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pause = new Backoff({ baseMs: 1, maxMs: 10 });
    for (;;) {
      this.killAll();
      if (this.pids().length === 0 || Date.now() > deadline) break;
      await Bun.sleep(pause.next());
    }
    while (!this.destroy() && Date.now() < deadline) await Bun.sleep(20);
  }

  /** Whether `pid` is in this cgroup (the pids hierarchy on v1). */
  holds(pid: number): boolean {
    const want = this.version === 1 ? `:pids:/${this.rel}` : `::/${this.rel}`;
    try {
      return readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").some((l) => l.endsWith(want) && (this.version === 1 || l.startsWith("0:")));
    } catch {
      return true; // already gone: nothing of it runs outside
    }
  }

  /** Remove the directories; true when all are gone. */
  destroy(): boolean {
    let ok = true;
    for (const d of Object.values(this.dirs)) {
      try { rmdirSync(d); } catch (e) { if ((e as NodeJS.ErrnoException).code !== "ENOENT") ok = false; }
    }
    return ok;
  }
}

let swapWarned = false;

/**
 * Without a swap limit a program can page out past its memory limit: harmless while no swap is
 * on, said (once per process, by the caller) otherwise. Returns whether it warned.
 */
export function warnSwapUnlimited(why: string, log: Logger | undefined, swaps = "/proc/swaps"): boolean {
  if (!swapActive(swaps)) return false;
  log?.warn({ event: "eval_swap_unlimited", reason: why }, `eval sandboxes can use swap beyond their memory limit: ${why}; turn swap off or enable swap accounting`);
  return true;
}

/** Whether any swap device is on (/proc/swaps lists more than its header). */
export function swapActive(swaps = "/proc/swaps"): boolean {
  try {
    return readFileSync(swaps, "utf8").trim().split("\n").length > 1;
  } catch {
    return true; // unknown: assume the worst, so the warning is not lost
  }
}

function parseCgroupFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of m[1]!.split(",")) out[c] = m[2]!;
  }
  return out;
}

let ownCache: Record<string, string> | null = null;
/** This process's cgroup per v1 controller ("" for v2), from /proc/self/cgroup (read once). */
function ownCgroups(): Record<string, string> {
  return (ownCache ??= parseCgroupFile(readFileSync("/proc/self/cgroup", "utf8")));
}

/** The calling thread's cgroups (it may differ from the process's when falc runs in a Worker). */
function ownThreadCgroups(): Record<string, string> {
  return parseCgroupFile(readFileSync("/proc/thread-self/cgroup", "utf8"));
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The owner pid encoded at the start of an eval id (`<pid base36>-…`), or null. */
export function ownerPid(id: string): number | null {
  const m = /^([0-9a-z]+)-/.exec(id);
  if (!m) return null;
  const n = parseInt(m[1]!, 36);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/**
 * Leftovers of evaluations whose falc process died (SIGKILL, crash): kill what still runs in their
 * cgroups (a runsc sandbox outlives its parent), remove the cgroups and temp dirs. Returns how many.
 */
export async function sweepStale(tmpRoot: string | null, log?: Logger): Promise<number> {
  const v = cgroupVersion();
  const ids = new Set<string>();
  const parents = v === 1 ? ["memory", "pids", "cpuacct"].map((c) => join(ROOT, c, PARENT)) : v === 2 ? [join(ROOT, PARENT)] : [];
  for (const p of parents) {
    try {
      for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) ids.add(e.name);
    } catch {}
  }
  let n = 0;
  for (const id of ids) {
    const pid = ownerPid(id);
    if (pid === null || pid === process.pid || alive(pid)) continue;
    const dirs = parents.map((p) => join(p, id)).filter((d) => existsSync(d));
    const procsFile = join(dirs.find((d) => d.includes("/pids/")) ?? dirs[0] ?? "", "cgroup.procs");
    const deadline = Date.now() + 3000;
    for (;;) {
      let pids: number[] = [];
      try { pids = readFileSync(procsFile, "utf8").split("\n").filter(Boolean).map(Number); } catch {}
      if (!pids.length || Date.now() > deadline) break;
      for (const p of pids) if (p !== process.pid) { try { process.kill(p, "SIGKILL"); } catch {} }
      await Bun.sleep(20);
    }
    for (const d of dirs) { try { rmdirSync(d); } catch {} }
    n++;
    log?.warn({ event: "eval_swept", eval_id: id, owner_pid: pid }, "removed the leftovers of an eval whose falc process died");
  }
  if (tmpRoot) {
    try {
      for (const name of readdirSync(tmpRoot)) {
        const pid = ownerPid(name);
        if (pid !== null && pid !== process.pid && !alive(pid)) rmSync(join(tmpRoot, name), { recursive: true, force: true });
      }
    } catch {}
  }
  return n;
}
