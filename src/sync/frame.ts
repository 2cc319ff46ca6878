/**
 * The wire framing, as Wazuh's cluster has it: a 20-byte header (counter u32, payload length u32,
 * 12-byte command whose last byte flags a divided message) followed by the payload. Once the
 * session is open the payload is AES-256-GCM ciphertext + tag, with the header as associated data.
 * Everything here is bounded: a peer can never make us buffer more than the caps allow.
 */
export const HEADER_LEN = 20;
export const CMD_LEN = 12;
const DIVIDED = 0x64; // "d"
const LAST = 0x2d; // "-"
const PAD = 0x20;

/** Command names: lower-case words, at most 11 bytes (the 12th is the divide flag). */
export const COMMAND_RE = /^[a-z][a-z0-9_]{0,10}$/;

export interface FrameHeader {
  counter: number;
  length: number;
  cmd: string;
  divided: boolean;
}

export interface Frame extends FrameHeader {
  /** The raw header bytes, authenticated as GCM associated data once encrypted. */
  header: Buffer;
  payload: Buffer;
}

export class FrameError extends Error {
  constructor(
    message: string,
    readonly reason: "garbage" | "oversized" | "too_many_split" | "message_too_large" | "out_of_order",
  ) {
    super(message);
  }
}

export function encodeHeader(counter: number, length: number, cmd: string, divided: boolean): Buffer {
  if (!COMMAND_RE.test(cmd)) throw new Error(`bad command name \`${cmd}\``);
  const h = Buffer.alloc(HEADER_LEN, PAD);
  h.writeUInt32BE(counter >>> 0, 0);
  h.writeUInt32BE(length, 4);
  h.write(cmd, 8, "latin1");
  h[HEADER_LEN - 1] = divided ? DIVIDED : LAST;
  return h;
}

export function parseHeader(h: Buffer): FrameHeader {
  const counter = h.readUInt32BE(0);
  const length = h.readUInt32BE(4);
  const flag = h[HEADER_LEN - 1];
  if (flag !== DIVIDED && flag !== LAST) throw new FrameError("bad frame header (flag byte)", "garbage");
  const raw = h.subarray(8, HEADER_LEN - 1);
  let end = raw.length;
  while (end > 0 && raw[end - 1] === PAD) end--;
  const cmd = raw.subarray(0, end).toString("latin1");
  // Padding must be padding all the way: "ok x" or NULs are garbage, not a command.
  if (!COMMAND_RE.test(cmd) || raw.subarray(end).some((b) => b !== PAD)) throw new FrameError("bad frame header (command)", "garbage");
  return { counter, length, cmd, divided: flag === DIVIDED };
}

/**
 * Splits a byte stream into frames. `maxPayload` is checked on the header alone, before a byte
 * of the payload is buffered, so an oversized frame costs 20 bytes, not its claimed length.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private head: FrameHeader | null = null;
  private headBytes: Buffer | null = null;

  constructor(public maxPayload: number) {}

  /** All complete frames in the stream so far (tests and simple readers). */
  push(chunk: Buffer): Frame[] {
    this.append(chunk);
    const out: Frame[] = [];
    for (let f = this.next(); f; f = this.next()) out.push(f);
    return out;
  }

  append(chunk: Buffer): void {
    if (!chunk.length) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next complete frame, or null. Frames are parsed one at a time so a caller can change
   * `maxPayload` between them (the cap rises once the handshake is done).
   */
  next(): Frame | null {
    if (!this.head) {
      if (this.buffered < HEADER_LEN) return null;
      const hb = this.take(HEADER_LEN);
      const head = parseHeader(hb);
      if (head.length > this.maxPayload) throw new FrameError(`frame of ${head.length} bytes is over the ${this.maxPayload}-byte cap`, "oversized");
      this.head = head;
      this.headBytes = hb;
    }
    if (this.buffered < this.head.length) return null;
    const f: Frame = { ...this.head, header: this.headBytes!, payload: this.take(this.head.length) };
    this.head = null;
    this.headBytes = null;
    return f;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}

export interface Message {
  counter: number;
  cmd: string;
  payload: Buffer;
}

export interface SplitLimits {
  /** Largest reassembled message. */
  maxMessage: number;
  /** Divided messages being reassembled at once. */
  maxSplit: number;
}

/** Joins divided frames (same counter and command) back into messages, within the caps. */
export class Reassembler {
  private open = new Map<number, { cmd: string; parts: Buffer[]; size: number }>();

  constructor(private limits: SplitLimits) {}

  add(f: { counter: number; cmd: string; divided: boolean; payload: Buffer }): Message | null {
    const cur = this.open.get(f.counter);
    if (!cur) {
      if (!f.divided) return { counter: f.counter, cmd: f.cmd, payload: f.payload };
      if (this.open.size >= this.limits.maxSplit)
        throw new FrameError(`more than ${this.limits.maxSplit} divided messages at once`, "too_many_split");
      if (f.payload.length > this.limits.maxMessage) throw new FrameError(`message over ${this.limits.maxMessage} bytes`, "message_too_large");
      this.open.set(f.counter, { cmd: f.cmd, parts: [f.payload], size: f.payload.length });
      return null;
    }
    if (cur.cmd !== f.cmd) throw new FrameError(`divided message ${f.counter} changed command ${cur.cmd} → ${f.cmd}`, "out_of_order");
    cur.size += f.payload.length;
    if (cur.size > this.limits.maxMessage) throw new FrameError(`message over ${this.limits.maxMessage} bytes`, "message_too_large");
    cur.parts.push(f.payload);
    if (f.divided) return null;
    this.open.delete(f.counter);
    return { counter: f.counter, cmd: cur.cmd, payload: Buffer.concat(cur.parts, cur.size) };
  }

  get pending(): number {
    return this.open.size;
  }
}

/** Payload pieces of at most `chunk` bytes (one empty piece for an empty payload). */
export function splitPayload(payload: Buffer, chunk: number): Buffer[] {
  if (payload.length <= chunk) return [payload];
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += chunk) out.push(payload.subarray(off, off + chunk));
  return out;
}
