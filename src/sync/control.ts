import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { join } from "node:path";
import { z } from "zod";
import { ensureDir } from "../core/paths.ts";
import { conflict, unavailable } from "../core/errors.ts";
import { LineDecoder } from "../runtime/ipc.ts";

/**
 * The local control socket of a running master or worker (FALC_HOME/sockets/sync-{master,worker}.sock,
 * mode 0600): `falc sync status` and `falc ui` on the same machine ask it, one JSON line each way.
 * Trust comes from the file permissions, as with the worker handler's sockets.
 */
export type Role = "master" | "worker";

export const controlPath = (home: string, role: Role) => join(home, "sockets", `sync-${role}.sock`);

export const controlRequest = z.discriminatedUnion("op", [z.object({ op: z.literal("status") }), z.object({ op: z.literal("groups_changed") })]);
export type ControlRequest = z.infer<typeof controlRequest>;

const controlAnswer = z.object({ ok: z.boolean(), result: z.unknown().optional(), error: z.string().optional() });

const MAX_LINE = 64 * 1024 * 1024;

/** Ask a running node; throws `unavailable` when nothing listens there. */
export function callControl(path: string, req: ControlRequest, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (!existsSync(path)) return reject(unavailable(`no sync node runs here (${path} does not exist)`));
    const sock = createConnection(path);
    const dec = new LineDecoder(controlAnswer, MAX_LINE);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(unavailable(`the sync node at ${path} did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    sock.on("connect", () => sock.write(JSON.stringify(req) + "\n"));
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(unavailable(`no sync node answers at ${path} (${(e as NodeJS.ErrnoException).code ?? e.message})`));
    });
    sock.on("data", (c: Buffer) => {
      let lines;
      try {
        lines = dec.push(c);
      } catch (e) {
        clearTimeout(timer);
        sock.destroy();
        return reject(unavailable(`bad answer from ${path}: ${(e as Error).message}`));
      }
      const first = lines[0];
      if (!first) return;
      clearTimeout(timer);
      sock.end();
      if (!first.ok) return reject(unavailable(`bad answer from ${path}: ${first.error}`));
      if (first.msg.ok) resolve(first.msg.result);
      else reject(unavailable(first.msg.error ?? "the sync node refused"));
    });
  });
}

/** Listen on the control socket; refuses to start when another live node already owns it. */
export async function serveControl(home: string, role: Role, handle: (r: ControlRequest) => Promise<unknown>): Promise<{ close(): void; path: string }> {
  const path = controlPath(home, role);
  ensureDir(join(home, "sockets"), 0o700);
  if (existsSync(path)) {
    const alive = await callControl(path, { op: "status" }, 2000).then(
      () => true,
      () => false,
    );
    if (alive) throw conflict(`a sync ${role} already runs with this FALC_HOME (${path}); give this one its own FALC_HOME`);
    unlinkSync(path);
  }
  const server: Server = createServer((sock) => {
    const dec = new LineDecoder(controlRequest, 1024 * 1024);
    sock.on("error", () => {});
    sock.on("data", async (c: Buffer) => {
      let lines;
      try {
        lines = dec.push(c);
      } catch {
        sock.destroy();
        return;
      }
      for (const line of lines) {
        let out: unknown;
        try {
          if (!line.ok) throw new Error(line.error);
          out = { ok: true, result: await handle(line.msg) };
        } catch (e) {
          out = { ok: false, error: (e as Error).message };
        }
        if (!sock.destroyed) sock.write(JSON.stringify(out) + "\n");
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: () => {
      server.close();
      try {
        unlinkSync(path);
      } catch {}
    },
  };
}
