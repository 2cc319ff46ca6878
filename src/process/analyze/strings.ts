/**
 * Printable strings (ASCII and UTF-16LE) with IOC extraction, in one linear pass over at most
 * `maxBytes` of the file. Only strings holding '.', '@' or '\' go to the IOC regexes, at most
 * `maxIocChars` characters of them, and a string is only materialised when the sample or the IOC
 * budget wants it, so a 100 MB binary costs two table-driven loops and little else.
 */
import { textView } from "./bytes.ts";
import { HINT_AT, HINT_BACKSLASH, HINT_DOT, IocCollector, type Iocs } from "./iocs.ts";

export interface StringsOptions {
  minLength?: number;
  /** Bytes scanned from the start of the file. */
  maxBytes?: number;
  /** Strings kept in the sample. */
  sampleSize?: number;
  /** Characters handed to the IOC regexes in all (strings longer than 2048 count as 2048). */
  maxIocChars?: number;
  /** Distinct IOCs kept per kind. */
  iocCap?: number;
}

export interface StringsResult {
  ascii_count: number;
  wide_count: number;
  min_length: number;
  scanned_bytes: number;
  /** The file was longer than maxBytes, or had more IOC candidates than maxIocChars. */
  truncated: boolean;
  sample: string[];
  iocs: Iocs;
}

export const STRINGS_DEFAULTS: Required<StringsOptions> = {
  minLength: 5,
  maxBytes: 8 * 1024 * 1024,
  sampleSize: 500,
  maxIocChars: 2 * 1024 * 1024,
  iocCap: 200,
};

// Per byte: bit 0 printable, then the IOC hints.
const CLASS = new Uint8Array(256);
for (let b = 0x20; b < 0x7f; b++) CLASS[b] = 1;
CLASS[9] = 1;
CLASS[0x2e] |= HINT_DOT << 1;
CLASS[0x40] |= HINT_AT << 1;
CLASS[0x5c] |= HINT_BACKSLASH << 1;

export function extractStrings(buf: Uint8Array, options: StringsOptions = {}): StringsResult {
  const o = { ...STRINGS_DEFAULTS, ...options };
  const min = Math.max(2, o.minLength);
  const end = Math.min(buf.length, o.maxBytes);
  const iocs = new IocCollector(o.iocCap);
  const sample: string[] = [];
  const sampled = new Set<string>();
  let iocBudget = o.maxIocChars;
  let truncated = end < buf.length;
  const MAX_IOC_STRING = 2048;

  const take = (from: number, to: number, hints: number, wide: boolean) => {
    const wantSample = sample.length < o.sampleSize;
    const len = wide ? (to - from) >> 1 : to - from;
    const wantIoc = hints !== 0 && iocBudget > 0;
    if (hints !== 0 && !wantIoc) truncated = true;
    if (!wantSample && !wantIoc) return;
    const s = wide ? text.ucs2Slice(from, to) : text.latin1Slice(from, to);
    if (wantSample && !sampled.has(s)) {
      sampled.add(s);
      sample.push(s.length > 256 ? s.slice(0, 256) : s);
    }
    if (wantIoc) {
      iocBudget -= Math.min(len, MAX_IOC_STRING);
      iocs.scan(s.length > MAX_IOC_STRING ? s.slice(0, MAX_IOC_STRING) : s, hints);
    }
  };
  // One Buffer view for all slices: creating a Buffer per string costs more than the scan itself.
  const text = textView(buf);
  const cls = CLASS;

  let ascii = 0;
  let wide = 0;
  const asciiRun = (from: number, to: number, f: number) => {
    ascii++;
    take(from, to, f >> 1, false);
  };
  const wideRun = (from: number, to: number, f: number) => {
    wide++;
    take(from, to, f >> 1, true);
  };

  // One pass for both: an ASCII run ends at any unprintable byte; a UTF-16LE string is a chain of
  // one-character runs each followed by a zero byte, so it is tracked from the same loop. Two tight
  // inner loops (skip unprintable, extend printable) keep the per-byte work minimal.
  let start = 0;
  let flags = 0;
  let wideStart = 0;
  let wideLen = 0;
  let wideFlags = 0;
  let wideNext = -1;
  let i = 0;
  for (;;) {
    while (i < end && cls[buf[i]!] === 0) i++;
    if (i >= end) break;
    start = i;
    flags = 0;
    while (i < end) {
      const c = cls[buf[i]!]!;
      if (c === 0) break;
      flags |= c;
      i++;
    }
    const run = i - start;
    if (run >= min) asciiRun(start, i, flags);
    if (run === 1 && i < end && buf[i] === 0) {
      if (start === wideNext) {
        wideLen++;
        wideFlags |= flags;
      } else {
        if (wideLen >= min) wideRun(wideStart, wideNext, wideFlags);
        wideStart = start;
        wideLen = 1;
        wideFlags = flags;
      }
      wideNext = i + 1;
    } else if (wideLen !== 0) {
      if (wideLen >= min) wideRun(wideStart, wideNext, wideFlags);
      wideLen = 0;
    }
  }
  if (wideLen >= min) wideRun(wideStart, wideNext, wideFlags);

  return { ascii_count: ascii, wide_count: wide, min_length: min, scanned_bytes: end, truncated, sample, iocs: iocs.result() };
}
