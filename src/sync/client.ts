import { createConnection } from "node:net";
import { unavailable } from "../core/errors.ts";
import { silentLogger, type Logger } from "../core/logger.ts";
import { callControl, controlPath } from "./control.ts";
import { clientHandshake, HandshakeRefused } from "./handshake.ts";
import { decodeJson, encodeJson } from "./protocol.ts";
import { DEFAULT_LIMITS, Session } from "./session.ts";
import { statusSchema, toSyncNodes, type StatusDoc, type SyncNodeRow } from "./status.ts";

export interface RemoteTarget {
  host: string;
  port: number;
  key: Buffer;
  cluster: string;
}

/** Open an authenticated session to a master as a status client (not a node: no name is taken). */
export async function connectClient(t: RemoteTarget, log: Logger = silentLogger, timeoutMs = 10_000): Promise<Session> {
  const sock = createConnection({ host: t.host, port: t.port });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.destroy();
      reject(unavailable(`no sync master answers at ${t.host}:${t.port}`));
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    sock.once("error", (e) => {
      clearTimeout(timer);
      reject(unavailable(`no sync master at ${t.host}:${t.port} (${(e as NodeJS.ErrnoException).code ?? e.message})`));
    });
  });
  const s = new Session(sock, DEFAULT_LIMITS, log);
  try {
    await clientHandshake(s, { key: t.key, name: "status", cluster: t.cluster, role: "client", timeoutMs });
  } catch (e) {
    throw unavailable(e instanceof HandshakeRefused ? e.message : `handshake with ${t.host}:${t.port} failed: ${(e as Error).message}`);
  }
  return s;
}

export async function fetchRemoteStatus(t: RemoteTarget): Promise<StatusDoc> {
  const s = await connectClient(t);
  try {
    return decodeJson(statusSchema, await s.request("status", encodeJson({}), 10_000), "status");
  } finally {
    s.close("done");
  }
}

/** Status from the master or worker running with this FALC_HOME (master first). */
export async function fetchLocalStatus(home: string): Promise<StatusDoc> {
  let last: Error | null = null;
  for (const role of ["master", "worker"] as const) {
    try {
      return decodeJson(statusSchema, Buffer.from(JSON.stringify(await callControl(controlPath(home, role), { op: "status" }))), "status");
    } catch (e) {
      last = e as Error;
      // A worker that answered but cannot reach its master says so; a missing socket tries the next.
      if (role === "worker" && !/does not exist/.test(last.message)) throw last;
    }
  }
  throw unavailable(`no sync master or worker runs with FALC_HOME ${home}; use --master HOST:PORT --key-file F for a remote master`);
}

export interface StatusSourceOptions {
  home: string;
  /** HOST:PORT of a master, with its key; without, the master or worker on this machine is asked. */
  remote?: RemoteTarget;
}

/** For the TUI: nodes and last syncs, or null when no master answers. Never throws. */
export function statusSource(o: StatusSourceOptions): () => Promise<SyncNodeRow[] | null> {
  return async () => {
    try {
      const doc = o.remote ? await fetchRemoteStatus(o.remote) : await fetchLocalStatus(o.home);
      return toSyncNodes(doc);
    } catch {
      return null;
    }
  };
}
