import { z } from "zod";
import type { Socket } from "node:net";

/**
 * The handler ↔ child protocol: one JSON object per line over a unix socket.
 * Lines are bounded: a peer that sends more without a newline is cut off, not buffered forever.
 */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

const errorInfo = z.object({ message: z.string(), code: z.string().optional(), stack: z.string().optional() });

/** The attempt token of the hand-over a message answers for (Task.token). */
const token = z.number().int().nonnegative().optional();

export const childMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), stage: z.string(), pid: z.number().int(), defaultTimeoutS: z.number().positive().optional() }),
  z.object({ type: z.literal("setup_failed"), error: errorInfo }),
  z.object({ type: z.literal("progress"), task_id: z.string(), token, fraction: z.number(), note: z.string().optional() }),
  z.object({ type: z.literal("finished"), task_id: z.string(), token, result: z.unknown() }),
  z.object({ type: z.literal("work_failed"), task_id: z.string(), token, error: errorInfo, retry: z.boolean().optional() }),
  z.object({ type: z.literal("worker_failed"), error: errorInfo }),
]);
export type ChildMessage = z.infer<typeof childMessage>;

/**
 * `lease_until_mono`/`until_mono`: until when the handler knows the queue lease is held, in ms of the system-wide
 * monotonic clock (monoMs). A child whose run is not renewed by then kills its own process group: a frozen or
 * partitioned handler cannot keep a run going after the queue may have handed the task to someone else.
 */
export const handlerMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("work"), task: z.record(z.string(), z.unknown()), lease_until_mono: z.number().optional() }),
  z.object({ type: z.literal("lease"), task_id: z.string(), token: z.number().int(), until_mono: z.number() }),
  z.object({ type: z.literal("cancel"), task_id: z.string() }),
  z.object({ type: z.literal("stop") }),
]);
export type HandlerMessage = z.infer<typeof handlerMessage>;

export type Decoded<T> = { ok: true; msg: T } | { ok: false; error: string; line: string };

/** Splits a byte stream into lines and validates each against a schema. */
export class LineDecoder<T> {
  private buf = "";
  constructor(
    private schema: z.ZodType<T>,
    private maxBytes = MAX_LINE_BYTES,
  ) {}

  /** Returns the decoded lines; throws when a single line grows past the bound. */
  push(chunk: string | Buffer): Decoded<T>[] {
    this.buf += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    const out: Decoded<T>[] = [];
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.trim()) out.push(decodeLine(this.schema, line));
    }
    if (this.buf.length > this.maxBytes) {
      this.buf = "";
      throw new Error(`line longer than ${this.maxBytes} bytes`);
    }
    return out;
  }
}

export function decodeLine<T>(schema: z.ZodType<T>, line: string): Decoded<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, error: "not JSON", line: line.slice(0, 200) };
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    return { ok: false, error: `bad message: ${i.path.join(".") || "(message)"}: ${i.message}`, line: line.slice(0, 200) };
  }
  return { ok: true, msg: r.data };
}

export function sendLine(sock: Socket, msg: ChildMessage | HandlerMessage): boolean {
  if (sock.destroyed || !sock.writable) return false;
  return sock.write(JSON.stringify(msg) + "\n");
}

export { monoMs } from "./mono-clock.ts";
