import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { FALC, waitFor } from "./helpers.ts";

/** A running `falc sync master|worker`, its JSON log lines collected as they come. */
export interface SyncProc {
  proc: ReturnType<typeof Bun.spawn>;
  home: string;
  lines: Record<string, any>[];
  stderr: string[];
  waitLog(pred: (l: Record<string, any>) => boolean, what: string, timeoutMs?: number, from?: number): Promise<Record<string, any>>;
  alive(): boolean;
  stop(sig?: NodeJS.Signals): Promise<void>;
}

export function spawnSync(args: string[], home: string, env: Record<string, string> = {}): SyncProc {
  mkdirSync(home, { recursive: true });
  const proc = Bun.spawn([FALC, "sync", ...args, "--log-level", "info"], {
    env: { ...process.env, NO_COLOR: "1", FALC_HOME: home, ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const lines: Record<string, any>[] = [];
  const stderr: string[] = [];
  let exited = false;
  void proc.exited.then(() => (exited = true));
  void (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      buf += dec.decode(chunk);
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        stderr.push(line);
        try {
          lines.push(JSON.parse(line));
        } catch {}
      }
    }
  })();
  return {
    proc,
    home,
    lines,
    stderr,
    waitLog: (pred, what, timeoutMs = 20_000, from = 0) => waitFor(() => lines.slice(from).find(pred), timeoutMs, 50, what),
    alive: () => !exited,
    stop: async (sig = "SIGTERM") => {
      if (exited) return;
      proc.kill(sig);
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

/** A key file with mode 600. */
export function keyFile(path: string): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, randomBytes(32).toString("hex") + "\n");
  chmodSync(path, 0o600);
  return path;
}

/** Short intervals so a test sees several rounds a second. */
export function fastConfig(path: string, extra = ""): string {
  writeFileSync(
    path,
    `sync:\n  keepalive_s: 0.5\n  interval_s: 0.4\n  drop_after_s: 4\n  reconnect_max_s: 1\n  preauth_s: 2\n  exclude: ["*.tmp"]\n${extra}`,
  );
  return path;
}

/** Every entry of a tree: path, type, mode and content hash, sorted: equal lists, equal trees. */
export function treeState(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const abs = join(root, p);
      const st = lstatSync(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.push(`${p} l ${readlinkSync(abs)}`);
      else if (st.isDirectory()) {
        out.push(`${p} d ${mode}`);
        walk(p);
      } else out.push(`${p} f ${mode} ${createHash("sha256").update(readFileSync(abs)).digest("hex")}`);
    }
  };
  walk("");
  return out;
}

/** The whole tree's hash; "changing" when a file vanished under the walk (a commit in progress). */
export function treeHash(root: string): string {
  try {
    return createHash("sha256").update(treeState(root).join("\n")).digest("hex");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "changing";
    throw e;
  }
}

/** `diff -r` says the trees are the same, and so do the modes. */
export function mirrored(a: string, b: string): boolean {
  const d = Bun.spawnSync(["diff", "-r", "-q", a, b]);
  return d.exitCode === 0 && treeHash(a) === treeHash(b) && treeHash(a) !== "changing";
}

export async function waitMirrored(a: string, b: string, what: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(() => mirrored(a, b), timeoutMs, 100, what);
}

/**
 * A TCP proxy in front of the master that can throttle the master→worker direction and cut every
 * connection at once: the "network" that fails in the middle of a transfer.
 */
export class CutProxy {
  server: Server;
  port = 0;
  down = 0;
  rate = 0; // bytes per second master→worker; 0 = no limit
  refuse = false;
  private pairs = new Set<[Socket, Socket]>();

  constructor(private upstreamPort: number) {
    this.server = createServer((client) => this.onClient(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  private onClient(client: Socket): void {
    if (this.refuse) return void client.destroy();
    const up = createConnection({ host: "127.0.0.1", port: this.upstreamPort });
    const pair: [Socket, Socket] = [client, up];
    this.pairs.add(pair);
    const queue: Buffer[] = [];
    let queued = 0;
    const timer = setInterval(() => {
      if (!this.rate) {
        while (queue.length) {
          const c = queue.shift()!;
          this.down += c.length;
          client.write(c);
        }
        queued = 0;
      } else {
        let budget = this.rate / 20;
        while (queue.length && budget > 0) {
          const c = queue[0]!;
          const n = Math.min(c.length, budget);
          client.write(c.subarray(0, n));
          if (n === c.length) queue.shift();
          else queue[0] = c.subarray(n);
          budget -= n;
          queued -= n;
          this.down += n;
        }
      }
      if (queued < 256 * 1024) up.resume();
    }, 50);
    up.on("data", (c: Buffer) => {
      if (!this.rate && !queue.length) {
        this.down += c.length;
        client.write(c);
        return;
      }
      queue.push(c);
      queued += c.length;
      if (queued > 256 * 1024) up.pause();
    });
    client.on("data", (c: Buffer) => up.write(c));
    const close = () => {
      clearInterval(timer);
      client.destroy();
      up.destroy();
      this.pairs.delete(pair);
    };
    client.on("close", close);
    up.on("close", close);
    client.on("error", close);
    up.on("error", close);
  }

  cutAll(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  close(): void {
    this.cutAll();
    this.server.close();
  }
}
