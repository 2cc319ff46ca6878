import { closeSync, existsSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { seccompFilter } from "../seccomp.ts";
import { EngineUnavailable, type Limits } from "../types.ts";
import { cpuSeconds } from "../limits.ts";
import { cgroupVersion } from "../cgroup.ts";
import { canSetRlimits } from "../rlimits.ts";
import { CODE_DIR, commandArgv, SANDBOX_ENV, WORK_DIR, which, type Engine, type Job, type Prepared } from "./engine.ts";

/**
 * bubblewrap: every namespace unshared (so no network), no capabilities, new session, empty
 * environment, read-only /usr, size-capped tmpfs /work and /tmp. bwrap has no resource limits of
 * its own: memory and processes come from falc's cgroup, CPU time and file size from rlimits.
 *
 * Held (cgroup v1): bwrap is started as `bwrap --args FD` and reads its real command line from FD
 * before it does anything, so it waits, born inside the cgroup, until falc has set the cgroup
 * limits and (with prlimit(2), no `prlimit` exec) the rlimits of that single process; everything
 * it then creates inherits them.
 */
export const bwrapEngine: Engine = {
  name: "bwrap",
  usesCgroup: true,
  hostPids: (l: Limits) => l.pids,
  async check() {
    if (!which("bwrap")) throw new EngineUnavailable("bwrap", "bwrap is not installed (apt install bubblewrap)");
    const v1 = cgroupVersion() === 1;
    if (!v1 && !which("cgexec")) throw new EngineUnavailable("bwrap", "cgexec is not installed (apt install cgroup-tools)");
    if ((!v1 || !canSetRlimits()) && !which("prlimit")) throw new EngineUnavailable("bwrap", "prlimit is not installed (util-linux)");
  },
  canHold: true,
  async prepare(job: Job, opts = { hold: false }): Promise<Prepared> {
    const filter = seccompFilter();
    const fds: number[] = [];
    if (filter) {
      const path = join(job.stateDir, "seccomp.bpf");
      writeFileSync(path, filter, { mode: 0o600 });
      fds.push(openSync(path, "r"));
    }
    const argv = bwrapArgv(job, filter ? 3 : undefined);
    const cleanup = async () => {
      for (const fd of fds) try { closeSync(fd); } catch {}
    };
    if (!opts.hold) return { argv: [...rlimitPrefix(job.limits), ...argv], fds, cleanup };
    // Options go through --args; the command itself must stay on the real command line.
    const byCall = canSetRlimits();
    const sep = argv.indexOf("--");
    return {
      argv: [...(byCall ? [] : rlimitPrefix(job.limits)), argv[0]!, "--args", String(3 + fds.length), ...argv.slice(sep)],
      fds,
      startData: new TextEncoder().encode(argv.slice(1, sep).map((a) => `${a}\0`).join("")),
      rlimits: byCall ? job.limits : undefined,
      cleanup,
    };
  },
};

export function rlimitPrefix(l: Limits): string[] {
  return ["prlimit", `--cpu=${cpuSeconds(l)}`, `--fsize=${l.fileBytes}`, "--nofile=256", "--core=0", "--"];
}

/** `seccompFd`: the fd number (in bwrap) of a seccomp filter to load before the program starts. */
export function bwrapArgv(job: Job, seccompFd?: number): string[] {
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
  a.push("--chdir", WORK_DIR);
  for (const [k, v] of Object.entries(SANDBOX_ENV)) a.push("--setenv", k, v);
  if (seccompFd !== undefined) a.push("--seccomp", String(seccompFd));
  // The code comes last (only the read-only remount after it): should the options sent through
  // --args ever arrive cut short, the sandbox has no program to run rather than less isolation.
  a.push("--ro-bind", job.codeDir, CODE_DIR);
  // The root bwrap builds is a tmpfs: make it read-only so only /work and /tmp are writable.
  a.push("--remount-ro", "/");
  a.push("--", ...commandArgv(job));
  return a;
}
