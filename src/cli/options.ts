import { usageError } from "../core/errors.ts";

/** Parse an integer flag with bounds, or say which flag is wrong and why. */
export function parseIntOption(name: string, value: string | undefined, range: { min: number; max: number }): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw usageError(`${name} must be a whole number, got \`${value}\``);
  if (n < range.min || n > range.max) throw usageError(`${name} must be between ${range.min} and ${range.max}, got ${n}`);
  return n;
}
