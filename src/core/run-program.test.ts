import { expect, test } from "bun:test";
import { FalcError } from "./errors.ts";
import { groupAlive, groupMembers, killProcessGroup } from "./process-group.ts";
import { runProgram, startProgram } from "./run-program.ts";

test("runs a program and returns its output and exit code", async () => {
  const r = await runProgram(["sh", "-c", "echo out; echo err >&2; exit 3"]);
  expect(r).toMatchObject({ exitCode: 3, stdout: "out\n", stderr: "err\n", timedOut: false, cancelled: false });
});

test("stdin and binary stdout", async () => {
  const r = await runProgram(["cat"], { input: new Uint8Array([0, 255, 10]), encoding: "buffer" });
  expect(Array.from(r.stdout)).toEqual([0, 255, 10]);
});

test("a missing program is a FalcError, not a crash", async () => {
  const e = await runProgram(["/nonexistent/falc-nope"]).catch((x) => x);
  expect(e).toBeInstanceOf(FalcError);
  expect((e as Error).message).toContain("cannot run /nonexistent/falc-nope");
});

test("lines reach onStdoutLine as they come", async () => {
  const lines: string[] = [];
  await runProgram(["sh", "-c", "printf 'a\\nb\\nc'"], { onStdoutLine: (l) => lines.push(l) });
  expect(lines).toEqual(["a", "b", "c"]);
});

// A program that ignores TERM and leaves a grandchild that also ignores TERM: only KILL of the group ends both.
const stubborn = ["sh", "-c", "trap '' TERM; sh -c \"trap '' TERM; sleep 60\" & echo started; wait"];

test("a timeout ends the whole group, TERM-ignoring grandchildren included, before the call returns", async () => {
  const p = startProgram(stubborn, { timeoutMs: 300, killGraceMs: 200 });
  const r = await p.result;
  expect(r.timedOut).toBe(true);
  expect(groupAlive(p.pid!)).toBe(false);
});

test("abort ends the group; the call resolves only once nothing is left", async () => {
  const ac = new AbortController();
  const p = startProgram(stubborn, { signal: ac.signal, killGraceMs: 100 });
  // Wait for the grandchild to exist rather than sleeping.
  const deadline = Date.now() + 5000;
  while (groupMembers(p.pid!).length < 3 && Date.now() < deadline) await Bun.sleep(5);
  expect(groupMembers(p.pid!).length).toBeGreaterThanOrEqual(2);
  ac.abort();
  const r = await p.result;
  expect(r.cancelled).toBe(true);
  expect(groupAlive(p.pid!)).toBe(false);
});

test("killProcessGroup wakes a stopped group and ends it", async () => {
  const p = startProgram(["sh", "-c", "sleep 60"]);
  const deadline = Date.now() + 5000;
  while (groupMembers(p.pid!).length < 1 && Date.now() < deadline) await Bun.sleep(5);
  process.kill(-p.pid!, "SIGSTOP");
  expect(await killProcessGroup(p.pid!, 500)).toBe(true);
  expect(groupAlive(p.pid!)).toBe(false);
  await p.result;
});

test("a leader that exits leaves no background members behind", async () => {
  const p = startProgram(["sh", "-c", "sleep 60 & exit 0"], { killGraceMs: 200 });
  const r = await p.result;
  expect(r.exitCode).toBe(0);
  expect(groupAlive(p.pid!)).toBe(false);
});
