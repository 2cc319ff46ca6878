// Private redis-server processes for tests (test scaffolding, so under test/, not src/): a free loopback port, an own temp dir, stopped afterwards.
import { freePort } from "../src/core/free-port.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export { freePort };

export interface RedisServer {
  port: number;
  dir: string;
  /** redis://127.0.0.1:<port>/<db> */
  url(db?: number): string;
  /** kill -9 (data stays in dir when persistence is on). */
  kill(): Promise<void>;
  /** Start again on the same port with the same dir (after kill). */
  restart(): Promise<void>;
  /** Stop and remove the temp dir. */
  stop(): Promise<void>;
}

export const haveRedis = Boolean(Bun.which("redis-server"));


async function ping(port: number): Promise<boolean> {
  const p = Bun.spawn(["redis-cli", "-p", String(port), "ping"], { stdout: "pipe", stderr: "ignore" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out.includes("PONG");
}

/**
 * Start redis-server. `persist` turns on the append-only file with fsync on every write, so a kill -9
 * loses nothing that was acknowledged (what the restart tests need).
 */
export async function startRedis(opts: { persist?: boolean; port?: number } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "falc-redis-"));
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  let port = opts.port ?? 0;
  const argv = () => [
    "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
    "--appendonly", opts.persist ? "yes" : "no", "--appendfsync", "always", "--databases", "64",
    "--logfile", join(dir, "redis.log"),
  ];
  const launch = async (): Promise<boolean> => {
    proc = Bun.spawn(argv(), { stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) return false;
      if (await ping(port)) return true;
      await Bun.sleep(25);
    }
    return false;
  };
  for (let tries = 0; ; tries++) {
    if (!opts.port) port = await freePort();
    if (await launch()) break;
    (proc as ReturnType<typeof Bun.spawn> | null)?.kill("SIGKILL");
    // Another suite took the port between our probe and redis-server's bind: pick another.
    if (tries >= 5 || opts.port) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start on port ${port}`);
    }
  }
  const kill = async () => {
    if (!proc) return;
    proc.kill("SIGKILL");
    await proc.exited;
    proc = null;
  };
  return {
    port,
    dir,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    kill,
    restart: async () => {
      await kill();
      for (let i = 0; i < 40; i++) {
        if (await launch()) return;
        (proc as ReturnType<typeof Bun.spawn> | null)?.kill("SIGKILL");
        await Bun.sleep(100);
      }
      throw new Error(`redis-server did not start again on port ${port}`);
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
