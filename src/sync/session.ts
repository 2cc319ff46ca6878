import type { Socket } from "node:net";
import { randomInt } from "node:crypto";
import type { Logger } from "../core/logger.ts";
import { AuthError, Opener, Sealer, TAG_BYTES, type Direction } from "./crypto.ts";
import { encodeHeader, FrameError, FrameReader, Reassembler, splitPayload, type Message } from "./frame.ts";

export interface SessionLimits {
  /** Plaintext bytes per frame; bigger payloads are divided. */
  chunk: number;
  /** Largest frame payload accepted once authenticated (checked on the header). */
  maxFrame: number;
  /** Largest frame accepted before the handshake is done. */
  preAuthMaxFrame: number;
  /** Largest reassembled message, and how many divided messages may be open at once. */
  maxMessage: number;
  maxSplit: number;
  requestTimeoutMs: number;
}

export const DEFAULT_LIMITS: SessionLimits = {
  chunk: 1 << 20,
  maxFrame: (1 << 20) + 4096,
  preAuthMaxFrame: 16 * 1024,
  maxMessage: 256 << 20,
  maxSplit: 8,
  requestTimeoutMs: 60_000,
};

/** The peer answered a request with `err`. */
export class RemoteError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class ClosedError extends Error {}

interface Pending {
  resolve(b: Buffer): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One TCP connection between nodes: framing, (after the handshake) encryption, divided messages,
 * and requests matched to their `ok`/`err` response by counter. Any framing or authentication
 * failure closes the connection: after a bad frame the implicit sequence numbers can no longer agree.
 */
export class Session {
  bytesIn = 0;
  bytesOut = 0;
  lastRecvAt = Date.now();
  readonly remote: string;
  /** Set once authenticated. */
  peer = "";
  closeReason: string | null = null;

  private reader: FrameReader;
  private reassembler: Reassembler;
  private sealer: Sealer | null = null;
  private opener: Opener | null = null;
  private pending = new Map<number, Pending>();
  private counter = randomInt(0, 2 ** 31);
  private closeListeners: ((reason: string) => void)[] = [];

  /** Messages before the handshake is done (plaintext, small, never divided). */
  onPlain: ((m: Message) => void) | null = null;
  /** Authenticated messages that are not responses. Called synchronously, in order. */
  onMessage: ((m: Message) => void) | null = null;

  constructor(
    readonly sock: Socket,
    readonly limits: SessionLimits,
    readonly log: Logger,
  ) {
    this.remote = `${sock.remoteAddress ?? "?"}:${sock.remotePort ?? "?"}`;
    this.reader = new FrameReader(limits.preAuthMaxFrame);
    this.reassembler = new Reassembler({ maxMessage: limits.preAuthMaxFrame, maxSplit: 0 });
    sock.setNoDelay(true);
    sock.on("data", (c: Buffer) => this.onData(c));
    sock.on("error", (e) => this.close(`socket error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    sock.on("close", () => this.close("connection closed by peer"));
  }

  get authenticated(): boolean {
    return this.opener !== null;
  }

  get closed(): boolean {
    return this.closeReason !== null;
  }

  onClose(fn: (reason: string) => void): void {
    if (this.closeReason !== null) fn(this.closeReason);
    else this.closeListeners.push(fn);
  }

  /** Switch both directions to AES-256-GCM; frames already buffered are read with the new keys. */
  startEncryption(sendKey: Buffer, sendDir: Direction, recvKey: Buffer, recvDir: Direction): void {
    this.sealer = new Sealer(sendKey, sendDir);
    this.opener = new Opener(recvKey, recvDir);
    this.reader.maxPayload = this.limits.maxFrame;
    this.reassembler = new Reassembler({ maxMessage: this.limits.maxMessage, maxSplit: this.limits.maxSplit });
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.bytesIn += chunk.length;
    this.lastRecvAt = Date.now();
    this.reader.append(chunk);
    try {
      for (let f = this.reader.next(); f && !this.closed; f = this.reader.next()) {
        if (!this.opener) {
          if (f.divided) throw new FrameError("divided frame before the handshake", "garbage");
          if (!this.onPlain) throw new FrameError(`unexpected ${f.cmd} frame before the handshake`, "garbage");
          this.onPlain({ counter: f.counter, cmd: f.cmd, payload: f.payload });
          continue;
        }
        const plain = this.opener.open(f.header, f.payload);
        const m = this.reassembler.add({ counter: f.counter, cmd: f.cmd, divided: f.divided, payload: plain });
        if (m) this.dispatch(m);
      }
    } catch (e) {
      const reason = e instanceof AuthError ? "auth" : e instanceof FrameError ? e.reason : "error";
      this.log.warn({ event: "frame_refused", reason, remote: this.remote, node: this.peer || undefined }, `refused frame from ${this.peer || this.remote}: ${(e as Error).message}`);
      this.close(`refused frame: ${(e as Error).message}`);
    }
  }

  private dispatch(m: Message): void {
    if (m.cmd === "ok" || m.cmd === "err") {
      const p = this.pending.get(m.counter);
      if (!p) {
        this.log.debug({ event: "stray_response", counter: m.counter }, "response to no request");
        return;
      }
      this.pending.delete(m.counter);
      clearTimeout(p.timer);
      if (m.cmd === "ok") p.resolve(m.payload);
      else {
        let msg = "request refused";
        let code = "error";
        try {
          const j = JSON.parse(m.payload.toString("utf8"));
          if (typeof j.error === "string") msg = j.error.slice(0, 500);
          if (typeof j.code === "string") code = j.code.slice(0, 40);
        } catch {}
        p.reject(new RemoteError(msg, code));
      }
      return;
    }
    this.onMessage?.(m);
  }

  nextCounter(): number {
    this.counter = (this.counter + 1) >>> 0;
    return this.counter;
  }

  /** Write one message (divided into frames over `chunk`); false when the socket wants a drain. */
  send(cmd: string, payload: Buffer, counter = this.nextCounter()): boolean {
    return this.sendParts(cmd, [payload], counter);
  }

  /**
   * Write one message given in pieces (a codec byte and a data block, say) without joining them:
   * each frame's pieces are encrypted and written in turn.
   */
  sendParts(cmd: string, pieces: Buffer[], counter = this.nextCounter()): boolean {
    if (this.closed) throw new ClosedError(this.closeReason ?? "closed");
    const total = pieces.reduce((a, p) => a + p.length, 0);
    const frames: Buffer[][] = [];
    if (!this.sealer || total <= this.limits.chunk) frames.push(pieces);
    else {
      const whole = Buffer.concat(pieces, total);
      for (const part of splitPayload(whole, this.limits.chunk)) frames.push([part]);
    }
    this.sock.cork();
    for (let i = 0; i < frames.length; i++) {
      const parts = frames[i]!;
      const plainLen = parts.reduce((a, p) => a + p.length, 0);
      const header = encodeHeader(counter, this.sealer ? plainLen + TAG_BYTES : plainLen, cmd, i < frames.length - 1);
      const body = this.sealer ? this.sealer.sealParts(header, parts) : parts;
      this.sock.write(header);
      this.bytesOut += header.length;
      for (const b of body) {
        this.sock.write(b);
        this.bytesOut += b.length;
      }
    }
    this.sock.uncork();
    return !this.sock.writableNeedDrain;
  }

  /** Raw bytes onto the wire (tests that play a hostile peer). */
  writeRaw(b: Buffer): void {
    this.bytesOut += b.length;
    this.sock.write(b);
  }

  /** Seal a frame without sending it (tests replay or alter it). */
  sealFrame(cmd: string, payload: Buffer, counter = this.nextCounter()): Buffer {
    if (!this.sealer) throw new Error("not encrypted yet");
    const header = encodeHeader(counter, payload.length + TAG_BYTES, cmd, false);
    return Buffer.concat([header, this.sealer.seal(header, payload)]);
  }

  drain(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError(this.closeReason ?? "closed"));
    if (!this.sock.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        this.sock.off("drain", done);
        if (this.closed) reject(new ClosedError(this.closeReason ?? "closed"));
        else resolve();
      };
      this.sock.on("drain", done);
      this.onClose(done);
    });
  }

  request(cmd: string, payload: Buffer, timeoutMs = this.limits.requestTimeoutMs): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new ClosedError(this.closeReason ?? "closed"));
      const counter = this.nextCounter();
      const timer = setTimeout(() => {
        this.pending.delete(counter);
        reject(new Error(`no answer to ${cmd} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.pending.set(counter, { resolve, reject, timer });
      try {
        this.send(cmd, payload, counter);
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(counter);
        reject(e as Error);
      }
    });
  }

  reply(counter: number, payload: Buffer): void {
    if (!this.closed) this.send("ok", payload, counter);
  }

  replyError(counter: number, message: string, code = "error"): void {
    if (!this.closed) this.send("err", Buffer.from(JSON.stringify({ error: message, code })), counter);
  }

  /** Close after what was written is flushed (a refusal's `err` frame reaches the peer). */
  end(reason: string): void {
    if (this.closeReason !== null) return;
    this.sock.end();
    const t = setTimeout(() => this.sock.destroy(), 1000);
    t.unref?.();
    this.finish(reason);
  }

  close(reason: string): void {
    if (this.closeReason !== null) return;
    this.sock.destroy();
    this.finish(reason);
  }

  private finish(reason: string): void {
    this.closeReason = reason;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ClosedError(reason));
    }
    this.pending.clear();
    for (const fn of this.closeListeners.splice(0)) fn(reason);
  }
}
