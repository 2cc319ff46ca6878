import { expect, test } from "bun:test";
import { errorLine, FalcError, inputError, notFound, toErrorInfo, usageError, workFailed } from "./errors.ts";

test("error codes map to exit codes a CI step can trust", () => {
  expect(usageError("x").exitCode).toBe(2);
  expect(inputError("x").exitCode).toBe(2);
  expect(notFound("x").exitCode).toBe(1);
  expect(workFailed("x").exitCode).toBe(1);
});

test("errorLine is one line, never a stack", () => {
  expect(errorLine(new Error("first\nsecond"))).toBe("first");
  expect(errorLine(new FalcError("conflict", "busy"))).toBe("busy");
  expect(errorLine("plain")).toBe("plain");
  const info = toErrorInfo(new TypeError("bad"));
  expect(info.message).toBe("bad");
  expect(info.stack).toContain("TypeError");
});
