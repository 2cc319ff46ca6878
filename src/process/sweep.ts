/**
 * What dead processes left behind (durable.ts): staging directories of analyses they never
 * committed, binaries' incoming copies, and temps of stages they did not finish. Nothing of it is
 * under a final name, so removing it changes no analysis; it only frees the space.
 */
import { lstatSync, readdirSync, rmdirSync, rmSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { STAGING_DIR } from "./durable.ts";

const host = hostname();

function gone(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** A directory's names; none when it is missing or unreadable (there is nothing to sweep). */
function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** `<host>-<pid>` of a process of this host that is gone. */
function deadOwner(owner: string): boolean {
  const i = owner.lastIndexOf("-");
  return owner.slice(0, i) === host && gone(Number(owner.slice(i + 1)));
}

/**
 * Remove what dead processes of this host left: staging directories (and the empty directories they
 * reserved) and binaries' incoming temps. Cheap: two directory listings.
 */
export function sweepAbandoned(analysesRoot: string, binariesRoot: string): void {
  const stagingTop = join(analysesRoot, STAGING_DIR);
  for (const owner of names(stagingTop)) {
    if (!deadOwner(owner)) continue;
    const root = join(stagingTop, owner);
    for (const name of names(root)) {
      // <YYYYMMDD>-<XXXXXX>: the reserved directory stays only if something was renamed into it.
      const m = /^(\d{8})-([A-Z0-9]{6})$/.exec(name);
      if (m) {
        try {
          rmdirSync(join(analysesRoot, m[1]!, m[2]!));
        } catch {}
      }
    }
    rmSync(root, { recursive: true, force: true });
  }
  for (const n of names(binariesRoot).filter((n) => n.startsWith(".incoming-"))) {
    const m = /^\.incoming-(.+-\d+)-[a-z0-9]+$/.exec(n);
    if (!m || !deadOwner(m[1]!)) continue;
    try {
      if (lstatSync(join(binariesRoot, n)).isFile()) unlinkSync(join(binariesRoot, n));
    } catch {}
  }
}

/**
 * Temps a dead process left in a directory (a worker killed mid-stage): `.<name>.<pid>.<rand>.tmp`.
 * Called when a stage starts on an existing analysis; one directory listing.
 */
export function sweepTemps(dir: string): void {
  for (const n of names(dir)) {
    const m = /^\..+\.(\d+)\.[a-z0-9]+\.tmp$/.exec(n);
    if (!m) continue;
    if (!gone(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, n));
    } catch {}
  }
}
