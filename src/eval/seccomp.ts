import { arch } from "node:os";

/**
 * A classic-BPF seccomp filter for bwrap (`--seccomp FD`), x86_64 only: other architectures' and
 * x32 syscalls are refused, and the calls a program under evaluation has no business making
 * (ptrace, mount, namespaces, kernel modules, keyrings, bpf, perf, …) fail with EPERM. clone3 fails
 * with ENOSYS so libc falls back to clone, whose namespace flags are then refused by the missing
 * capabilities. gVisor has its own kernel and does not need this.
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
  finit_module: 313, kexec_file_load: 320, bpf: 321, userfaultfd: 323, open_tree: 428, move_mount: 429, fsopen: 430,
  fsconfig: 431, fsmount: 432, fspick: 433, mount_setattr: 442,
};
const CLONE3 = 435;

const LD_ABS_W = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;

type Insn = [code: number, jt: number, jf: number, k: number];

/** The filter as the bytes of a `struct sock_filter[]`, or null when not on x86_64. */
export function seccompFilter(): Uint8Array | null {
  if (arch() !== "x64") return null;
  const denied = Object.values(DENIED_X86_64);
  const prog: Insn[] = [];
  prog.push([LD_ABS_W, 0, 0, 4]); // seccomp_data.arch
  prog.push([JEQ_K, 1, 0, AUDIT_ARCH_X86_64]);
  prog.push([RET_K, 0, 0, RET_KILL_PROCESS]);
  prog.push([LD_ABS_W, 0, 0, 0]); // seccomp_data.nr
  // Index of the final three instructions: allow, deny (EPERM), enosys.
  const checks = 1 + denied.length + 1;
  const allowAt = prog.length + checks;
  const denyAt = allowAt + 1;
  const enosysAt = allowAt + 2;
  const jumpTo = (target: number) => target - (prog.length + 1);
  prog.push([JGE_K, jumpTo(denyAt), 0, X32_BIT]);
  for (const nr of denied) prog.push([JEQ_K, jumpTo(denyAt), 0, nr]);
  prog.push([JEQ_K, jumpTo(enosysAt), 0, CLONE3]);
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
