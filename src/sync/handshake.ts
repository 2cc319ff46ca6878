import { randomBytes } from "node:crypto";
import { VERSION } from "../core/version.ts";
import { Ephemeral, NONCE_BYTES, proof, proofMatches, sessionKeys, transcript } from "./crypto.ts";
import type { Message } from "./frame.ts";
import {
  authSchema,
  challengeSchema,
  decodeJson,
  errSchema,
  helloSchema,
  PROTOCOL,
  ProtocolError,
  welcomeSchema,
  type Challenge,
  type Hello,
  type Settings,
} from "./protocol.ts";
import type { Session } from "./session.ts";

/**
 * The hello: the worker says who it is, the master answers with a fresh challenge, the worker
 * proves it holds the cluster key (HMAC over both messages), then the master proves it too, and
 * both derive this session's keys from the key, the transcript and an X25519 secret of two
 * ephemeral keys that hello and challenge carry (forward secrecy, see sessionKeys). Before that nothing but these
 * four small plaintext messages is accepted, and only for `preAuthMs`.
 */
export class HandshakeRefused extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

/** Send a refusal in the clear and hang up. */
export function refuse(session: Session, message: string, code: string): void {
  if (session.closed) return;
  try {
    session.send("err", json({ error: message, code }));
  } catch {}
  session.end(`refused: ${message}`);
}

export interface ClientHandshakeOptions {
  key: Buffer;
  name: string;
  cluster: string;
  role: "worker" | "client";
  timeoutMs: number;
  version?: string;
  /** Tests: this side's ephemeral key pair (made fresh otherwise). */
  ephemeral?: Ephemeral;
}

export interface ClientResult {
  master: Challenge;
  settings: Settings;
}

export function clientHandshake(session: Session, o: ClientHandshakeOptions): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const nonce = randomBytes(NONCE_BYTES);
    const eph = o.ephemeral ?? new Ephemeral();
    let shared: Buffer | null = null;
    const hello: Hello = { proto: PROTOCOL, role: o.role, name: o.name, cluster: o.cluster, version: o.version ?? VERSION, nonce: nonce.toString("base64"), eph: eph.pub.toString("base64") };
    const helloBytes = json(hello);
    let state: "hello" | "auth" | "done" = "hello";
    let t: Buffer | null = null;
    let master: Challenge | null = null;
    const timer = setTimeout(() => fail(new HandshakeRefused(`no handshake answer from the master within ${Math.round(o.timeoutMs / 1000)} s`, "timeout")), o.timeoutMs);
    const fail = (e: Error) => {
      if (state === "done") return;
      state = "done";
      clearTimeout(timer);
      session.onPlain = null;
      session.close(e.message);
      reject(e);
    };
    session.onClose((reason) => fail(new HandshakeRefused(`connection closed during the handshake (${reason})`, "closed")));
    session.onPlain = (m: Message) => {
      try {
        if (m.cmd === "err") {
          const e = decodeJson(errSchema, m.payload, "err");
          throw new HandshakeRefused(`master refused: ${e.error}`, e.code);
        }
        if (state === "hello" && m.cmd === "challenge") {
          master = decodeJson(challengeSchema, m.payload, "challenge");
          if (master.proto !== PROTOCOL) throw new HandshakeRefused(`master speaks protocol ${master.proto}, this node ${PROTOCOL}`, "version");
          if (master.cluster !== o.cluster) throw new HandshakeRefused(`master is in cluster \`${master.cluster}\`, not \`${o.cluster}\``, "cluster");
          try {
            shared = eph.shared(Buffer.from(master.eph, "base64"));
          } catch (e) {
            throw new HandshakeRefused(`master's ${(e as Error).message}`, "protocol");
          }
          t = transcript(helloBytes, m.payload);
          session.send("auth", json({ proof: proof(o.key, "worker", t).toString("base64") }));
          state = "auth";
          return;
        }
        if (state === "auth" && m.cmd === "welcome") {
          const w = decodeJson(welcomeSchema, m.payload, "welcome");
          if (!proofMatches(o.key, "master", t!, Buffer.from(w.proof, "base64")))
            throw new HandshakeRefused("the master could not prove it holds the cluster key: the key files differ", "key");
          const keys = sessionKeys(o.key, t!, shared!);
          session.startEncryption(keys.w2m, "w2m", keys.m2w, "m2w");
          session.peer = master!.name;
          session.onPlain = null;
          state = "done";
          clearTimeout(timer);
          resolve({ master: master!, settings: w.settings });
          return;
        }
        throw new HandshakeRefused(`unexpected ${m.cmd} during the handshake`, "protocol");
      } catch (e) {
        fail(e instanceof ProtocolError ? new HandshakeRefused(e.message, "protocol") : (e as Error));
      }
    };
    session.send("hello", helloBytes);
  });
}

export interface ServerHandshakeOptions {
  key: Buffer;
  name: string;
  cluster: string;
  settings: Settings;
  timeoutMs: number;
  /**
   * Called with the proven hello, synchronously before the welcome is sent, so two connections
   * with one name can never both get in. Returns a refusal reason, or null to admit.
   */
  admit: (hello: Hello) => { error: string; code: string } | null;
}

export function serverHandshake(session: Session, o: ServerHandshakeOptions): Promise<Hello> {
  return new Promise((resolve, reject) => {
    let state: "hello" | "auth" | "done" = "hello";
    let hello: Hello | null = null;
    let t: Buffer | null = null;
    let shared: Buffer | null = null;
    const fail = (e: HandshakeRefused, tell: boolean) => {
      if (state === "done") return;
      state = "done";
      clearTimeout(timer);
      session.onPlain = null;
      if (tell) refuse(session, e.message, e.code);
      else session.close(e.message);
      reject(e);
    };
    const timer = setTimeout(() => fail(new HandshakeRefused(`no handshake within ${Math.round(o.timeoutMs / 1000)} s`, "timeout"), false), o.timeoutMs);
    session.onClose((reason) => fail(new HandshakeRefused(`closed during the handshake (${reason})`, "closed"), false));
    session.onPlain = (m: Message) => {
      try {
        if (state === "hello" && m.cmd === "hello") {
          hello = decodeJson(helloSchema, m.payload, "hello");
          if (hello.proto !== PROTOCOL) throw new HandshakeRefused(`protocol ${hello.proto} is not ${PROTOCOL}`, "version");
          if (hello.cluster !== o.cluster) throw new HandshakeRefused(`cluster \`${hello.cluster}\` is not this master's \`${o.cluster}\``, "cluster");
          if (hello.version !== VERSION) throw new HandshakeRefused(`falc ${hello.version} cannot join a falc ${VERSION} master`, "version");
          if (hello.role === "worker" && hello.name === o.name) throw new HandshakeRefused(`node name \`${hello.name}\` is the master's own`, "duplicate");
          const nonce = randomBytes(NONCE_BYTES);
          const eph = new Ephemeral();
          try {
            shared = eph.shared(Buffer.from(hello.eph, "base64"));
          } catch (e) {
            throw new HandshakeRefused(`worker's ${(e as Error).message}`, "protocol");
          }
          const ch: Challenge = { proto: PROTOCOL, name: o.name, cluster: o.cluster, version: VERSION, nonce: nonce.toString("base64"), eph: eph.pub.toString("base64") };
          const chBytes = json(ch);
          t = transcript(m.payload, chBytes);
          session.send("challenge", chBytes);
          state = "auth";
          return;
        }
        if (state === "auth" && m.cmd === "auth") {
          const a = decodeJson(authSchema, m.payload, "auth");
          if (!proofMatches(o.key, "worker", t!, Buffer.from(a.proof, "base64"))) throw new HandshakeRefused("wrong cluster key", "key");
          const no = o.admit(hello!);
          if (no) throw new HandshakeRefused(no.error, no.code);
          const keys = sessionKeys(o.key, t!, shared!);
          // Read the worker's next frames with the session key; our welcome still goes in the clear.
          session.send("welcome", json({ proof: proof(o.key, "master", t!).toString("base64"), settings: o.settings }));
          session.startEncryption(keys.m2w, "m2w", keys.w2m, "w2m");
          session.peer = hello!.name;
          session.onPlain = null;
          state = "done";
          clearTimeout(timer);
          resolve(hello!);
          return;
        }
        throw new HandshakeRefused(`unexpected ${m.cmd} during the handshake`, "protocol");
      } catch (e) {
        const err = e instanceof HandshakeRefused ? e : new HandshakeRefused((e as Error).message, "protocol");
        fail(err, true);
      }
    };
  });
}
