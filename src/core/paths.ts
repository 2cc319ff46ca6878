import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { mkdirSync } from "node:fs";

/** FALC_HOME, default ~/.local/share/falc. Every piece of state lives below it. */
export function falcHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.FALC_HOME;
  if (fromEnv && fromEnv.trim()) return resolve(fromEnv);
  const xdg = env.XDG_DATA_HOME;
  return xdg ? join(xdg, "falc") : join(homedir(), ".local", "share", "falc");
}

export interface HomePaths {
  home: string;
  queueDb: string;
  sockets: string;
  storage: string;
  run: string;
}

export function homePaths(home: string): HomePaths {
  return {
    home,
    queueDb: join(home, "queue.sqlite"),
    sockets: join(home, "sockets"),
    storage: join(home, "storage"),
    run: join(home, "run"),
  };
}

export function ensureDir(dir: string, mode = 0o755): string {
  mkdirSync(dir, { recursive: true, mode });
  return dir;
}
