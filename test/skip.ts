// The one legitimate way for a test to skip: a reason outside the project's control, named in
// the test's title. scripts/test (test/summary.ts) fails a CI run on any other skip (test.skip,
// test.skipIf, test.todo, a missing tool): a tool scripts/setup installs is required.
import { accessSync, constants } from "node:fs";
import { describe, test } from "bun:test";

/**
 * The only reasons a skip may give. Anything the project could fix (a tool, a build) is not one.
 * "no Docker engine": the docker CLI installs, but these machines run no Docker daemon (DESIGN.md,
 * known traps), like a machine without KVM.
 */
export const SKIP_REASONS = ["not root", "no KVM", "other architecture", "no Docker engine"] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** What a skipped title carries, and what scripts/test looks for: `<title> (skipped: not root)`. */
export const skipMark = (reason: SkipReason): string => `(skipped: ${reason})`;

export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
export const haveKvm = (() => {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();

function checked(reason: SkipReason): SkipReason {
  if (!(SKIP_REASONS as readonly string[]).includes(reason)) throw new Error(`skip reason \`${reason}\` is not one of: ${SKIP_REASONS.join(", ")}`);
  return reason;
}

/** `test` when `cond` holds; otherwise the test is registered skipped, its title saying why. */
export function skipUnless(cond: boolean, reason: SkipReason): typeof test {
  const mark = skipMark(checked(reason));
  if (cond) return test;
  return ((name: string, fn: () => unknown, timeout?: number) => test.skip(`${name} ${mark}`, fn as never, timeout)) as unknown as typeof test;
}

/** `describe` when `cond` holds; otherwise every test inside is skipped, the block's title saying why. */
export function describeUnless(cond: boolean, reason: SkipReason): typeof describe {
  const mark = skipMark(checked(reason));
  if (cond) return describe;
  return ((name: string, fn: () => void) => describe.skip(`${name} ${mark}`, fn)) as unknown as typeof describe;
}
