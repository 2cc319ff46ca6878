import { readFileSync } from "node:fs";

/** The host account sandboxed programs run as when falc runs as root (scripts/setup creates it). */
export const SANDBOX_USER = "falc-sandbox";

export interface SandboxIdentity {
  uid: number;
  gid: number;
}

let cached: { at: string; id: SandboxIdentity | string } | null = null;

/**
 * Who the bwrap sandbox runs as on the host. Under root: the dedicated unprivileged account
 * `falc-sandbox` (no home, no shell, owns no file), never uid 0, so host `ps` and every file the
 * program could touch see an account with no rights. Under another user falc runs it as that user.
 * A string is the reason it cannot (the account is missing or is privileged).
 */
export function sandboxIdentity(passwd = "/etc/passwd"): SandboxIdentity | string {
  const me = process.getuid?.() ?? 0;
  if (me !== 0) return { uid: me, gid: process.getgid?.() ?? me };
  if (cached?.at === passwd) return cached.id;
  let id: SandboxIdentity | string = `no ${SANDBOX_USER} account: run scripts/setup, or: groupadd --system ${SANDBOX_USER} && useradd --system --gid ${SANDBOX_USER} --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ${SANDBOX_USER}`;
  try {
    for (const line of readFileSync(passwd, "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] !== SANDBOX_USER) continue;
      const uid = Number(f[2]);
      const gid = Number(f[3]);
      id = Number.isInteger(uid) && Number.isInteger(gid) && uid > 0 && gid > 0 ? { uid, gid } : `the ${SANDBOX_USER} account has uid ${f[2]} gid ${f[3]}: it must be an unprivileged account of its own`;
      break;
    }
  } catch (e) {
    id = `cannot read ${passwd}: ${(e as Error).message}`;
  }
  cached = { at: passwd, id };
  return id;
}
