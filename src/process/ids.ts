import { inputError } from "../core/errors.ts";

/** Cuckoo3's ids: analysis `YYYYMMDD-XXXXXX` (UTC day, 6 of A-Z0-9), task `<analysis>_<n>`. */
const ANALYSIS_ID = /^(\d{8})-([A-Z0-9]{6})$/;
const TASK_ID = /^(\d{8}-[A-Z0-9]{6})_([1-9]\d{0,3})$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

export function utcDay(now = new Date()): string {
  return now.toISOString().slice(0, 10).replace(/-/g, "");
}

export function newAnalysisId(now = new Date()): string {
  // 36 does not divide 256: draw until each byte falls in the unbiased range.
  let part = "";
  while (part.length < 6) {
    for (const b of crypto.getRandomValues(new Uint8Array(8))) {
      if (b < 252 && part.length < 6) part += ALPHABET[b % 36];
    }
  }
  return `${utcDay(now)}-${part}`;
}

export function isAnalysisId(s: string): boolean {
  return ANALYSIS_ID.test(s);
}

export function isTaskId(s: string): boolean {
  return TASK_ID.test(s);
}

export function splitAnalysisId(id: string): { day: string; part: string } {
  const m = ANALYSIS_ID.exec(id);
  if (!m) throw inputError(`\`${id}\` is not an analysis id (YYYYMMDD-XXXXXX, e.g. 20261125-A1B2C3)`);
  return { day: m[1]!, part: m[2]! };
}

export function makeTaskId(analysisId: string, number: number): string {
  splitAnalysisId(analysisId);
  if (!Number.isInteger(number) || number < 1 || number > 9999) throw inputError(`task number must be 1-9999, got ${number}`);
  return `${analysisId}_${number}`;
}

export function splitTaskId(id: string): { analysisId: string; number: number } {
  const m = TASK_ID.exec(id);
  if (!m) throw inputError(`\`${id}\` is not a task id (<analysis id>_<n>, e.g. 20261125-A1B2C3_1)`);
  return { analysisId: m[1]!, number: Number(m[2]) };
}
