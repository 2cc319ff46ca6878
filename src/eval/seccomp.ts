import { arch } from "node:os";

/**
 * A classic-BPF seccomp filter for bwrap (`--seccomp FD`), x86_64 only: other architectures' and
 * x32 syscalls are refused, and the calls a program under evaluation has no business making
 * (ptrace, mount, namespaces, kernel modules, keyrings, bpf, perf, io_uring, …) fail with EPERM.
 * clone is refused when it asks for any new namespace (a nested user namespace would hand the
 * program every capability over a fresh network stack: the netfilter attack surface of known
 * local-root exploits); clone3, whose flags sit in memory a filter cannot read, fails with ENOSYS
 * so libc falls back to clone. gVisor gets the same rules as an OCI profile (ociSeccomp).
 */
const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_BIT = 0x40000000;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

/** x86_64 syscall numbers refused with EPERM. */
export const DENIED_X86_64: Record<string, number> = {
  ptrace: 101, syslog: 103, personality: 135, pivot_root: 155, chroot: 161, acct: 163, mount: 165, umount2: 166,
  swapon: 167, swapoff: 168, reboot: 169, sethostname: 170, setdomainname: 171, iopl: 172, ioperm: 173,
  init_module: 175, delete_module: 176, quotactl: 179, kexec_load: 246, add_key: 248, request_key: 249, keyctl: 250,
  unshare: 272, perf_event_open: 298, open_by_handle_at: 304, setns: 308, process_vm_readv: 310, process_vm_writev: 311,
  finit_module: 313, kexec_file_load: 320, bpf: 321, userfaultfd: 323, io_uring_setup: 425, io_uring_enter: 426,
  io_uring_register: 427, open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
  mount_setattr: 442,
};
export const CLONE = 56;
export const CLONE3 = 435;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (CLONE_NEWTIME's bit is CSIGNAL in clone). */
export const CLONE_NS_FLAGS: Record<string, number> = {
  CLONE_NEWNS: 0x00020000, CLONE_NEWCGROUP: 0x02000000, CLONE_NEWUTS: 0x04000000, CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000, CLONE_NEWPID: 0x20000000, CLONE_NEWNET: 0x40000000,
};
export const CLONE_NS_MASK = Object.values(CLONE_NS_FLAGS).reduce((a, b) => a | b, 0);

const LD_ABS_W = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
/** offsetof(struct seccomp_data, args[0]), low 32 bits on little-endian. */
const ARG0_LO = 16;

type Insn = [code: number, jt: number, jf: number, k: number];

/** Whether falc has a seccomp filter for this machine's architecture. */
export const seccompSupported = () => arch() === "x64";

/** The filter as the bytes of a `struct sock_filter[]`, or null when not on x86_64. */
export function seccompFilter(): Uint8Array | null {
  if (!seccompSupported()) return null;
  const denied = Object.values(DENIED_X86_64);
  const prog: Insn[] = [];
  prog.push([LD_ABS_W, 0, 0, 4]); // seccomp_data.arch
  prog.push([JEQ_K, 1, 0, AUDIT_ARCH_X86_64]);
  prog.push([RET_K, 0, 0, RET_KILL_PROCESS]);
  prog.push([LD_ABS_W, 0, 0, 0]); // seccomp_data.nr
  // Layout after the checks: allow; clone's flag test (load, jset, allow); deny (EPERM); ENOSYS.
  const checks = 1 + 1 + denied.length + 1;
  const allowAt = prog.length + checks;
  const cloneAt = allowAt + 1;
  const denyAt = cloneAt + 3;
  const enosysAt = denyAt + 1;
  const jumpTo = (target: number) => target - (prog.length + 1);
  prog.push([JGE_K, jumpTo(denyAt), 0, X32_BIT]);
  prog.push([JEQ_K, jumpTo(cloneAt), 0, CLONE]);
  for (const nr of denied) prog.push([JEQ_K, jumpTo(denyAt), 0, nr]);
  prog.push([JEQ_K, jumpTo(enosysAt), 0, CLONE3]);
  prog.push([RET_K, 0, 0, RET_ALLOW]);
  prog.push([LD_ABS_W, 0, 0, ARG0_LO]);
  prog.push([JSET_K, 1, 0, CLONE_NS_MASK]);
  prog.push([RET_K, 0, 0, RET_ALLOW]);
  prog.push([RET_K, 0, 0, RET_ERRNO | EPERM]);
  prog.push([RET_K, 0, 0, RET_ERRNO | ENOSYS]);
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    if (jt > 255 || jf > 255) throw new Error("seccomp jump too far");
    buf.writeUInt16LE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    buf.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return new Uint8Array(buf);
}

/**
 * The same rules as an OCI `linux.seccomp` profile, which runsc (--oci-seccomp) enforces inside
 * its own kernel: a nested user namespace or io_uring there is gVisor's code, not the host's, but
 * both engines then refuse the same calls the same way.
 */
export function ociSeccomp(): Record<string, unknown> {
  const errno = (names: string[], ret: number, args?: unknown[]) => ({ names, action: "SCMP_ACT_ERRNO", errnoRet: ret, ...(args ? { args } : {}) });
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [
      errno(Object.keys(DENIED_X86_64), EPERM),
      // No clone3 rule: runsc ignores errnoRet (EPERM for every rule), and glibc falls back to
      // clone only on ENOSYS, which gVisor's clone3 returns anyway (it has none; the battery checks).
      // One rule per flag: MASKED_EQ matches when (flags & bit) == bit.
      ...Object.values(CLONE_NS_FLAGS).map((bit) => errno(["clone"], EPERM, [{ index: 0, value: bit, valueTwo: bit, op: "SCMP_CMP_MASKED_EQ" }])),
    ],
  };
}
