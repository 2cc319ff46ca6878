import { closeSync, existsSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { seccompFilter, seccompSupported } from "../seccomp.ts";
import { acquireBoxIdentity, checkBoxRange } from "../box-uid.ts";
import { EngineUnavailable, type Limits } from "../types.ts";
import { cpuSeconds } from "../limits.ts";
import { cgroupVersion } from "../cgroup.ts";
import { canSetRlimits } from "../rlimits.ts";
import { CODE_DIR, commandArgv, SANDBOX_ENV, WORK_DIR, which, type Engine, type Job, type Prepared } from "./engine.ts";

/**
 * bubblewrap: every namespace unshared (so no network), no capabilities, new session, empty
 * environment, read-only root and /usr; /work, /tmp and /dev/shm share one tmpfs of disk_mb. bwrap has no resource limits of
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
    // Without the filter a program could create nested namespaces and use io_uring: refuse rather than run weaker.
    if (!seccompSupported()) throw new EngineUnavailable("bwrap", `falc's seccomp filter is x86_64 only and this machine is ${process.arch}: bwrap would run without it (use gvisor)`);
    if (process.getuid?.() === 0) {
      const taken = checkBoxRange();
      if (taken) throw new EngineUnavailable("bwrap", taken);
    }
    const v1 = cgroupVersion() === 1;
    if (!v1 && !which("cgexec")) throw new EngineUnavailable("bwrap", "cgexec is not installed (apt install cgroup-tools)");
    if ((!v1 || !canSetRlimits()) && !which("prlimit")) throw new EngineUnavailable("bwrap", "prlimit is not installed (util-linux)");
  },
  canHold: true,
  async prepare(job: Job, opts = { hold: false }): Promise<Prepared> {
    const filter = seccompFilter();
    if (!filter) throw new EngineUnavailable("bwrap", "no seccomp filter for this architecture");
    // A host uid of this box's own (run.ts calls cleanup once every process of the box is gone).
    const id = acquireBoxIdentity();
    if (typeof id === "string") throw new EngineUnavailable("bwrap", id);
    const fds: number[] = [];
    const cleanup = async () => {
      for (const fd of fds) try { closeSync(fd); } catch {}
      id.release();
    };
    try {
      const path = join(job.stateDir, "seccomp.bpf");
      writeFileSync(path, filter, { mode: 0o600 });
      fds.push(openSync(path, "r"));
      // The code reaches the sandbox as an open descriptor bwrap copies into its own root
      // (--file): no bind mount, so no host path of falc's shows in /proc/self/mountinfo, and the
      // file on the host stays readable by root only.
      fds.push(openSync(join(job.codeDir, job.lang.file), "r"));
    } catch (e) {
      await cleanup();
      throw e;
    }
    const argv = bwrapArgv(job, 3, 4);
    const user = { uid: id.uid, gid: id.gid };
    if (!opts.hold) return { argv: [...rlimitPrefix(job.limits), ...argv], fds, cleanup, ...user };
    // Options go through --args; the command itself must stay on the real command line.
    // prlimit(2) on a process of another uid needs CAP_SYS_RESOURCE (which root lacks in some
    // containers, this machine among them): a sandbox started as its box uid sets its
    // own rlimits through the `prlimit` command before it execs bwrap (≈1 ms more).
    const byCall = canSetRlimits() && user.uid === process.getuid?.();
    const sep = argv.indexOf("--");
    return {
      argv: [...(byCall ? [] : rlimitPrefix(job.limits)), argv[0]!, "--args", String(3 + fds.length), ...argv.slice(sep)],
      fds,
      startData: new TextEncoder().encode(argv.slice(1, sep).map((a) => `${a}\0`).join("")),
      rlimits: byCall ? job.limits : undefined,
      cleanup,
      ...user,
    };
  },
};

/**
 * The one disk budget, made by the sandbox's own bwrap (no second process): one tmpfs of disk_mb
 * at DISK_AT, and /work, /tmp and /dev/shm are symlinks to its three directories. bwrap takes the
 * source of every bind from the host's tree, never from the root it is building, so a bind of
 * DISK_AT/work at /work cannot be made; a symlink can. Whatever the program writes across the
 * three, the sum stops at disk_mb (ENOSPC), and the root stays read-only.
 */
const DISK_AT = "/disk";
/** The disk's directories, their mode, and where the sandbox sees them. */
const DISK_DIRS = [["work", WORK_DIR, "0777"], ["tmp", "/tmp", "1777"], ["shm", "/dev/shm", "1777"]] as const;

export function diskArgv(diskBytes: number): string[] {
  const a = ["--size", String(diskBytes), "--perms", "0755", "--tmpfs", DISK_AT];
  for (const [dir, at, mode] of DISK_DIRS) a.push("--perms", mode, "--dir", `${DISK_AT}/${dir}`, "--symlink", `${DISK_AT}/${dir}`, at);
  return a;
}

/**
 * /dev is a directory of the read-only root with the host's harmless device nodes bound in, not
 * bwrap's --dev: that tmpfs has a /dev/shm directory of its own, where the disk's symlink cannot go.
 * No devpts: a sandbox that has no terminal needs no pseudo-terminals.
 */
const DEV_NODES = ["null", "zero", "full", "random", "urandom", "tty"];
const DEV_LINKS = [["/proc/self/fd", "fd"], ["/proc/self/fd/0", "stdin"], ["/proc/self/fd/1", "stdout"], ["/proc/self/fd/2", "stderr"]] as const;

function devArgv(): string[] {
  const a = ["--perms", "0755", "--dir", "/dev"];
  for (const n of DEV_NODES) if (existsSync(`/dev/${n}`)) a.push("--dev-bind", `/dev/${n}`, `/dev/${n}`);
  for (const [target, link] of DEV_LINKS) a.push("--symlink", target, `/dev/${link}`);
  return a;
}

export function rlimitPrefix(l: Limits): string[] {
  return ["prlimit", `--cpu=${cpuSeconds(l)}`, `--fsize=${l.fileBytes}`, "--nofile=256", "--core=0", "--"];
}

/**
 * /proc files that tell about the host's kernel and are world-readable (config, timers, physical
 * and vmalloc layout, scheduler state): covered with /dev/null on a nodev mount, so opening them
 * fails. Root-only ones (kcore, …) need no cover: the program is no root of the host's.
 */
export const MASKED_PROC = ["/proc/config.gz", "/proc/timer_list", "/proc/iomem", "/proc/vmallocinfo", "/proc/sched_debug"];

/**
 * `seccompFd`, `codeFd`: fd numbers (in bwrap) of the seccomp filter and of the code file.
 * No user namespace can be created inside: bwrap's own --disable-userns (the sandbox's
 * user.max_user_namespaces is 1, its own) and the filter's refusal of clone with namespace flags,
 * unshare and setns.
 */
export function bwrapArgv(job: Job, seccompFd: number, codeFd: number): string[] {
  const a = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--clearenv", "--cap-drop", "ALL"];
  a.push("--uid", "65534", "--gid", "65534", "--hostname", "sandbox");
  a.push("--ro-bind", "/usr", "/usr");
  for (const [link, target] of [["/bin", "usr/bin"], ["/sbin", "usr/sbin"], ["/lib", "usr/lib"], ["/lib64", "usr/lib64"], ["/lib32", "usr/lib32"]] as const) {
    if (existsSync(`/${target}`)) a.push("--symlink", target, link);
  }
  // A few files programs expect; nothing else of the host's /etc.
  for (const f of ["/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"]) if (existsSync(f)) a.push("--ro-bind", f, f);
  // /proc/sys needs no read-only bind: its writable files belong to the sandbox's own namespaces'
  // root, and the program is neither that root nor has any capability (the battery writes them).
  a.push("--proc", "/proc", ...devArgv());
  for (const f of MASKED_PROC) if (existsSync(f)) a.push("--ro-bind", "/dev/null", f);
  // /work, /tmp and /dev/shm are the only writable places: three directories of the one tmpfs of
  // diskArgv (one budget of disk_mb for all three; its pages count against the cgroup's memory).
  a.push(...diskArgv(job.limits.diskBytes));
  a.push("--chdir", WORK_DIR);
  for (const [k, v] of Object.entries(SANDBOX_ENV)) a.push("--setenv", k, v);
  a.push("--seccomp", String(seccompFd));
  // The code comes last (only the read-only remount after it): should the options sent through
  // --args ever arrive cut short, the sandbox has no program to run rather than less isolation.
  a.push("--dir", CODE_DIR, "--perms", job.lang.exec ? "0555" : "0444", "--file", String(codeFd), `${CODE_DIR}/${job.lang.file}`);
  // The root bwrap builds is a tmpfs: make it read-only so only /work, /tmp and /dev/shm are writable.
  a.push("--remount-ro", "/");
  a.push("--", ...commandArgv(job));
  return a;
}
