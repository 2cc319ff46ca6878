import { describe, expect, test } from "bun:test";
import { encodeHeader, FrameError, FrameReader, HEADER_LEN, parseHeader, Reassembler, splitPayload } from "./frame.ts";

const frame = (counter: number, cmd: string, payload: Buffer, divided = false) => Buffer.concat([encodeHeader(counter, payload.length, cmd, divided), payload]);

describe("frame codec", () => {
  test("the header is 20 bytes: counter, length, 11-byte command and the divide flag", () => {
    const h = encodeHeader(0xdeadbeef, 1234, "integrity", true);
    expect(h.length).toBe(HEADER_LEN);
    expect(h.readUInt32BE(0)).toBe(0xdeadbeef);
    expect(h.readUInt32BE(4)).toBe(1234);
    expect(h.subarray(8).toString("latin1")).toBe("integrity  d");
    expect(parseHeader(h)).toEqual({ counter: 0xdeadbeef, length: 1234, cmd: "integrity", divided: true });
    expect(parseHeader(encodeHeader(1, 0, "ok", false)).divided).toBe(false);
    expect(() => encodeHeader(1, 0, "twelve_chars", false)).toThrow();
    expect(() => encodeHeader(1, 0, "Bad", false)).toThrow();
  });

  test("frames come out whole however the stream is cut", () => {
    const stream = Buffer.concat([frame(1, "hello", Buffer.from("abc")), frame(2, "ok", Buffer.alloc(0)), frame(3, "sync_data", Buffer.alloc(5000, 7))]);
    for (const cut of [1, 7, 19, 20, 21, 4096]) {
      const r = new FrameReader(1 << 20);
      const got = [];
      for (let i = 0; i < stream.length; i += cut) got.push(...r.push(stream.subarray(i, i + cut)));
      expect(got.map((f) => [f.counter, f.cmd, f.payload.length])).toEqual([
        [1, "hello", 3],
        [2, "ok", 0],
        [3, "sync_data", 5000],
      ]);
      expect(got[0]!.header.equals(stream.subarray(0, 20))).toBe(true);
    }
  });

  test("an oversized frame is refused on its header, before its payload is buffered", () => {
    const r = new FrameReader(1024);
    const h = encodeHeader(1, 0xffffffff, "hello", false);
    let err: unknown;
    try {
      r.push(h);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameError);
    expect((err as FrameError).reason).toBe("oversized");
  });

  test("garbage is refused: bad flag, bad command, NULs in the padding", () => {
    const bad = [Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Buffer.alloc(20), (() => {
      const h = encodeHeader(1, 0, "ok", false);
      h[12] = 0;
      return h;
    })()];
    for (const b of bad) expect(() => new FrameReader(1 << 20).push(b)).toThrow(FrameError);
  });

  test("divided messages are joined by counter, within the caps", () => {
    const big = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i & 0xff));
    const parts = splitPayload(big, 3000);
    expect(parts.length).toBe(4);
    const ra = new Reassembler({ maxMessage: 1 << 20, maxSplit: 2 });
    const out = parts.map((p, i) => ra.add({ counter: 9, cmd: "integrity", divided: i < parts.length - 1, payload: p }));
    expect(out.slice(0, 3)).toEqual([null, null, null]);
    expect(out[3]!.payload.equals(big)).toBe(true);
    expect(ra.pending).toBe(0);
    // Interleaved with a whole message of another counter.
    expect(ra.add({ counter: 1, cmd: "info", divided: true, payload: Buffer.from("a") })).toBeNull();
    expect(ra.add({ counter: 2, cmd: "keepalive", divided: false, payload: Buffer.from("k") })!.cmd).toBe("keepalive");
    expect(ra.add({ counter: 1, cmd: "info", divided: false, payload: Buffer.from("b") })!.payload.toString()).toBe("ab");
  });

  test("too many open divided messages, an over-long one, or a changed command are refused", () => {
    const ra = new Reassembler({ maxMessage: 10, maxSplit: 2 });
    ra.add({ counter: 1, cmd: "a", divided: true, payload: Buffer.alloc(1) });
    ra.add({ counter: 2, cmd: "a", divided: true, payload: Buffer.alloc(1) });
    expect(() => ra.add({ counter: 3, cmd: "a", divided: true, payload: Buffer.alloc(1) })).toThrow(/divided messages at once/);
    expect(() => ra.add({ counter: 1, cmd: "a", divided: true, payload: Buffer.alloc(10) })).toThrow(/over 10 bytes/);
    expect(() => ra.add({ counter: 2, cmd: "b", divided: false, payload: Buffer.alloc(1) })).toThrow(/changed command/);
  });
});
