import { describe, expect, test } from "bun:test";
import { childMessage, handlerMessage, LineDecoder } from "./ipc.ts";

describe("ipc line decoder", () => {
  test("splits lines across chunks and validates each", () => {
    const d = new LineDecoder(childMessage);
    expect(d.push('{"type":"ready","stage":"pre","pid":1')).toEqual([]);
    const out = d.push('2}\n{"type":"progress","task_id":"t","fraction":0.5}\n');
    expect(out.map((o) => o.ok && o.msg.type)).toEqual(["ready", "progress"]);
  });

  test("garbage and wrong shapes are reported, not thrown", () => {
    const d = new LineDecoder(handlerMessage);
    const out = d.push("hello there\n{\"type\":\"work\"}\n{\"type\":\"explode\"}\n\n");
    expect(out.length).toBe(3);
    expect(out.every((o) => !o.ok)).toBe(true);
    expect(out[0]!.ok === false && out[0]!.error).toBe("not JSON");
    expect(out[1]!.ok === false && out[1]!.error).toMatch(/bad message: task/);
  });

  test("a line past the bound is cut off", () => {
    const d = new LineDecoder(childMessage, 1024);
    expect(() => d.push("x".repeat(2000))).toThrow(/longer than 1024/);
    // The decoder recovers for the next line.
    expect(d.push('{"type":"worker_failed","error":{"message":"m"}}\n')[0]!.ok).toBe(true);
  });
});
