import { closeSync, existsSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { seccompFilter } from "../seccomp.ts";
import { EngineUnavailable, type Limits } from "../types.ts";
import { cpuSeconds } from "../limits.ts";
import { CODE_DIR, commandArgv, SANDBOX_ENV, WORK_DIR, which, type Engine, type Job, type Prepared } from "./engine.ts";

/**
 * bubblewrap: every namespace unshared (so no network), no capabilities, new session, empty
 * environment, read-only /usr, size-capped tmpfs /work and /tmp. bwrap has no resource limits of
 * its own: memory and processes come from falc's cgroup, CPU time and file size from rlimits (prlimit).
 */
export const bwrapEngine: Engine = {
  name: "bwrap",
  usesCgroup: true,
  hostPids: (l: Limits) => l.pids,
  async check() {
    if (!which("bwrap")) throw new EngineUnavailable("bwrap", "bwrap is not installed (apt install bubblewrap)");
    if (!which("cgexec")) throw new EngineUnavailable("bwrap", "cgexec is not installed (apt install cgroup-tools)");
    if (!which("prlimit")) throw new EngineUnavailable("bwrap", "prlimit is not installed (util-linux)");
  },
  canBlock: true,
  async prepare(job: Job, opts = { blockFd: false }): Promise<Prepared> {
    const filter = seccompFilter();
    if (!filter) return { argv: [...rlimitPrefix(job.limits), ...bwrapArgv(job, undefined, opts.blockFd ? 3 : undefined)], blockFd: opts.blockFd };
    const path = join(job.stateDir, "seccomp.bpf");
    writeFileSync(path, filter, { mode: 0o600 });
    const fd = openSync(path, "r");
    return {
      argv: [...rlimitPrefix(job.limits), ...bwrapArgv(job, 3, opts.blockFd ? 4 : undefined)],
      fds: [fd],
      blockFd: opts.blockFd,
      async cleanup() {
        try { closeSync(fd); } catch {}
      },
    };
  },
};

export function rlimitPrefix(l: Limits): string[] {
  return ["prlimit", `--cpu=${cpuSeconds(l)}`, `--fsize=${l.fileBytes}`, "--nofile=256", "--core=0", "--"];
}

/** `seccompFd`: the fd number (in bwrap) of a seccomp filter to load before the program starts. */
export function bwrapArgv(job: Job, seccompFd?: number, blockFd?: number): string[] {
  const a = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--cap-drop", "ALL"];
  a.push("--uid", "65534", "--gid", "65534", "--hostname", "sandbox");
  a.push("--ro-bind", "/usr", "/usr");
  for (const [link, target] of [["/bin", "usr/bin"], ["/sbin", "usr/sbin"], ["/lib", "usr/lib"], ["/lib64", "usr/lib64"], ["/lib32", "usr/lib32"]] as const) {
    if (existsSync(`/${target}`)) a.push("--symlink", target, link);
  }
  // A few files programs expect; nothing else of the host's /etc.
  for (const f of ["/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"]) if (existsSync(f)) a.push("--ro-bind", f, f);
  a.push("--proc", "/proc", "--dev", "/dev");
  // The sandbox's own /proc/sys (hostname, …) stays read-only too.
  a.push("--ro-bind", "/proc/sys", "/proc/sys");
  a.push("--size", String(job.limits.diskBytes), "--tmpfs", "/tmp");
  a.push("--size", String(job.limits.diskBytes), "--perms", "0777", "--tmpfs", WORK_DIR);
  a.push("--ro-bind", job.codeDir, CODE_DIR);
  // The root bwrap builds is a tmpfs: make it read-only so only /work and /tmp are writable.
  a.push("--remount-ro", "/");
  a.push("--chdir", WORK_DIR);
  for (const [k, v] of Object.entries(SANDBOX_ENV)) a.push("--setenv", k, v);
  if (seccompFd !== undefined) a.push("--seccomp", String(seccompFd));
  if (blockFd !== undefined) a.push("--block-fd", String(blockFd));
  a.push("--", ...commandArgv(job));
  return a;
}
