import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { unavailable } from "../core/errors.ts";

/**
 * A lock file beside analysis.json, so two post workers finishing tasks of the same analysis
 * never lose each other's update. Storage is local to FALC_HOME, so a holder that died is
 * recognised by its pid being gone on this host.
 */
const host = hostname();

export async function withFileLock<T>(path: string, fn: () => T | Promise<T>, timeoutMs = 30_000): Promise<T> {
  const me = `${host} ${process.pid}`;
  const deadline = Date.now() + timeoutMs;
  for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, me);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (holderGone(path)) {
        try {
          unlinkSync(path);
        } catch {}
        continue;
      }
      if (Date.now() > deadline) throw unavailable(`${path} is still locked after ${timeoutMs / 1000} s (held by ${readHolder(path) || "?"})`);
      await Bun.sleep(wait);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {}
  }
}

function readHolder(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

function holderGone(path: string): boolean {
  const [holder, pidText] = readHolder(path).split(" ");
  // An empty file is a holder between open and write: not gone.
  if (!holder || !pidText || holder !== host) return false;
  try {
    process.kill(Number(pidText), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}
