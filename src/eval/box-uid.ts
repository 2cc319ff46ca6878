import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { liveStat, procStat } from "../core/process-group.ts";

/**
 * Host uids/gids reserved for falc's boxes, one per running sandbox (as isolate does with its
 * 60000–60999): 61000–61127, between isolate's range and systemd's DynamicUser range (61184–65519),
 * outside adduser's (up to 59999). No account has them; scripts/setup refuses to go on if one does.
 */
export const BOX_UIDS = { first: 61000, count: 128 } as const;

/** Who holds which uid: one file per uid in use, on a tmpfs emptied at boot, root's alone. */
export const BOX_LOCK_DIR = "/run/falc-eval/uids";

export interface BoxIdentity {
  uid: number;
  gid: number;
  /** Give the uid back (after every process of the box has ended). */
  release(): void;
}

/** Any account or group in the range (then the boxes would not own nothing): the reason, or null. */
export function checkBoxRange(passwd = "/etc/passwd", group = "/etc/group"): string | null {
  const { first, count } = BOX_UIDS;
  for (const [file, what] of [[passwd, "account"], [group, "group"]] as const) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      return `cannot read ${file}: ${(e as Error).message}`;
    }
    for (const line of text.split("\n")) {
      const f = line.split(":");
      const id = Number(f[2]);
      if (f.length > 2 && Number.isInteger(id) && id >= first && id < first + count) {
        return `${what} ${f[0]} has id ${id}, inside the uid range falc reserves for its sandboxes (${first}–${first + count - 1}): move it`;
      }
    }
  }
  return null;
}

/** Start time of a process (field 22 of /proc/PID/stat), or null when it is gone. */
function startTime(pid: number): string | null {
  return procStat(pid)?.[19] ?? null;
}

/**
 * Whether any live host process runs with this real or effective uid. A zombie runs nothing and
 * keeps its uid until its parent reaps it (this VM's init never does), so it does not count.
 */
function uidInUse(uid: number): boolean {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || !liveStat(name)) continue;
    try {
      const line = readFileSync(`/proc/${name}/status`, "utf8").split("\n").find((l) => l.startsWith("Uid:"));
      if (line?.split(/\s+/).slice(1, 3).includes(String(uid))) return true;
    } catch {}
  }
  return false;
}

/** Whether the file's holder is gone and no process runs with its uid any more (then the uid is free). */
function stale(path: string, uid: number, holder: string): boolean {
  const [pid, since] = holder.trim().split(" ");
  return Boolean(pid) && startTime(Number(pid)) !== since && !uidInUse(uid);
}

/** Remove a file if it still says what it said when judged stale (another falc may have taken the uid since). */
function removeIf(path: string, holder: string): void {
  try {
    if (readFileSync(path, "utf8") === holder) unlinkSync(path);
  } catch {}
}

/**
 * Give back the uids of boxes whose falc was killed (it could not): the files of holders that are
 * gone, once no process runs with the uid. Run once per falc process, beside the cgroup sweep.
 */
export function sweepBoxUids(dir = BOX_LOCK_DIR): number {
  let names: string[];
  try { names = readdirSync(dir); } catch { return 0; }
  let n = 0;
  for (const name of names) {
    const uid = Number(name);
    if (!Number.isInteger(uid)) continue;
    const path = join(dir, name);
    let holder: string;
    try { holder = readFileSync(path, "utf8"); } catch { continue; }
    if (stale(path, uid, holder)) {
      removeIf(path, holder);
      n++;
    }
  }
  return n;
}

/**
 * A uid of its own for one box: the first free one of the range (a file created with O_EXCL says
 * it is taken, by whom and since when). A holder that is gone (falc killed) leaves its file: the
 * uid is taken over once no process runs with it any more. Under a user other than root falc can
 * only run the sandbox as itself. A string is the reason no uid can be had.
 */
export function acquireBoxIdentity(dir = BOX_LOCK_DIR): BoxIdentity | string {
  const me = process.getuid?.() ?? 0;
  if (me !== 0) return { uid: me, gid: process.getgid?.() ?? me, release() {} };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mine = `${process.pid} ${startTime(process.pid)}\n`;
  const { first, count } = BOX_UIDS;
  // Start at a random place: concurrent falc processes rarely race for the same file.
  const start = Math.floor(Math.random() * count);
  for (let i = 0; i < count; i++) {
    const uid = first + ((start + i) % count);
    const path = join(dir, String(uid));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, "wx", 0o600);
        try { writeSync(fd, mine); } finally { closeSync(fd); }
        return {
          uid,
          gid: uid,
          release() {
            try {
              if (readFileSync(path, "utf8") === mine) unlinkSync(path);
            } catch {}
          },
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") return `cannot reserve a sandbox uid in ${dir}: ${(e as Error).message}`;
      }
      // Taken: take it over only from a holder that is gone and a box that has ended.
      let holder = "";
      try { holder = readFileSync(path, "utf8"); } catch { continue; }
      if (!stale(path, uid, holder)) break;
      removeIf(path, holder);
    }
  }
  return `all ${count} sandbox uids (${first}–${first + count - 1}) are in use: too many sandboxes at once`;
}
