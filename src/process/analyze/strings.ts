/**
 * Printable strings (ASCII and UTF-16LE) with IOC extraction, in one linear pass (split over two threads
 * for large inputs, see extractStringsParallel) over at most
 * `maxBytes` of the file. Only strings holding '.', '@' or '\' go to the IOC regexes, at most
 * `maxIocChars` characters of them, and a string is only materialised when the sample or the IOC
 * budget wants it, so a 100 MB binary costs two table-driven loops and little else.
 */
import { textView } from "./bytes.ts";
import { IocCollector, type Iocs } from "./iocs.ts";

export interface StringsOptions {
  /** extractStringsParallel may use a second thread (default false: see the pre/strings plugin). */
  threads?: boolean;
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
  sampleSize: 200,
  maxIocChars: 2 * 1024 * 1024,
  threads: false,
  iocCap: 200,
};

const MAX_IOC_STRING = 2048;

export interface RunScan {
  ascii: number;
  wide: number;
  /** Kept runs as triples: start, end, code (IOC hints in bits 0-2, bit 3 = UTF-16LE). */
  runs: number[];
  /** Hinted runs were dropped for lack of budget. */
  dropped: boolean;
}

/**
 * The scan: counts ASCII and UTF-16LE runs of at least `min` characters in buf[from, to) and keeps the
 * first `keepFirst` runs (the sample) plus hinted runs ('.', '@', '\') while `hintBudget` characters last.
 * One pass for both kinds: an ASCII run ends at any unprintable byte; a UTF-16LE string is a chain of
 * one-character runs each followed by a zero byte, so it is tracked from the same loop. Two tight inner
 * loops (skip unprintable, extend printable) keep the per-byte work minimal.
 * It must stay self-contained: a worker runs it from its source text.
 */
export function scanRuns(buf: Uint8Array, from: number, to: number, min: number, keepFirst: number, hintBudget: number): RunScan {
  // Per byte: bit 0 printable, bits 1-3 the IOC hints '.', '@', '\'.
  const cls = new Uint8Array(256);
  for (let b = 0x20; b < 0x7f; b++) cls[b] = 1;
  cls[9] = 1;
  cls[0x2e] |= 2;
  cls[0x40] |= 4;
  cls[0x5c] |= 8;
  const runs: number[] = [];
  let kept = 0;
  let budget = hintBudget;
  let dropped = false;
  let ascii = 0;
  let wide = 0;
  const keep = (a: number, b: number, hints: number, isWide: boolean) => {
    const len = isWide ? (b - a) >> 1 : b - a;
    const hinted = hints !== 0 && budget > 0;
    if (hints !== 0 && !hinted) dropped = true;
    if (kept < keepFirst || hinted) {
      runs.push(a, b, hints | (isWide ? 8 : 0));
      kept++;
      if (hinted) budget -= Math.min(len, 2048);
    }
  };
  let start = 0;
  let flags = 0;
  let wideStart = 0;
  let wideLen = 0;
  let wideFlags = 0;
  let wideNext = -1;
  let i = from;
  for (;;) {
    while (i < to && cls[buf[i]!] === 0) i++;
    if (i >= to) break;
    start = i;
    flags = 0;
    while (i < to) {
      const c = cls[buf[i]!]!;
      if (c === 0) break;
      flags |= c;
      i++;
    }
    const run = i - start;
    if (run >= min) {
      ascii++;
      keep(start, i, flags >> 1, false);
    }
    if (run === 1 && i < to && buf[i] === 0) {
      if (start === wideNext) {
        wideLen++;
        wideFlags |= flags;
      } else {
        if (wideLen >= min) {
          wide++;
          keep(wideStart, wideNext, wideFlags >> 1, true);
        }
        wideStart = start;
        wideLen = 1;
        wideFlags = flags;
      }
      wideNext = i + 1;
    } else if (wideLen !== 0) {
      if (wideLen >= min) {
        wide++;
        keep(wideStart, wideNext, wideFlags >> 1, true);
      }
      wideLen = 0;
    }
  }
  if (wideLen >= min) {
    wide++;
    keep(wideStart, wideNext, wideFlags >> 1, true);
  }
  return { ascii, wide, runs, dropped };
}

/** Turns kept runs (in file order) into the sample and the IOCs, within the global budgets. */
function collect(buf: Uint8Array, scans: RunScan[], o: Required<StringsOptions>, min: number, scanned: number): StringsResult {
  const text = textView(buf);
  const iocs = new IocCollector(o.iocCap);
  // A DER string (IA5String, UTF8String, PrintableString, or a GeneralName URI [6]) carries its length in
  // the two bytes before it: URLs in certificates end there.
  let runStart = 0;
  const derLength = (i: number): number | undefined => {
    const u = runStart + i;
    if (u < 2) return undefined;
    const tag = buf[u - 2]!;
    const len = buf[u - 1]!;
    return (tag === 0x86 || tag === 0x16 || tag === 0x0c || tag === 0x13) && len < 0x80 ? len : undefined;
  };
  const sample: string[] = [];
  const sampled = new Set<string>();
  let budget = o.maxIocChars;
  let truncated = scanned < buf.length || scans.some((x) => x.dropped);
  for (const scan of scans) {
    const r = scan.runs;
    for (let k = 0; k < r.length; k += 3) {
      const a = r[k]!;
      const b = r[k + 1]!;
      const code = r[k + 2]!;
      const isWide = (code & 8) !== 0;
      const hints = code & 7;
      const wantSample = sample.length < o.sampleSize;
      const wantIoc = hints !== 0 && budget > 0;
      if (hints !== 0 && !wantIoc) truncated = true;
      if (!wantSample && !wantIoc) continue;
      const str = isWide ? text.ucs2Slice(a, b) : text.latin1Slice(a, b);
      if (wantSample && !sampled.has(str)) {
        sampled.add(str);
        sample.push(str.length > 256 ? str.slice(0, 256) : str);
      }
      if (wantIoc) {
        budget -= Math.min(str.length, MAX_IOC_STRING);
        runStart = a;
        iocs.scan(str.length > MAX_IOC_STRING ? str.slice(0, MAX_IOC_STRING) : str, hints, isWide ? undefined : derLength);
      }
    }
  }
  const ascii = scans.reduce((n, x) => n + x.ascii, 0);
  const wide = scans.reduce((n, x) => n + x.wide, 0);
  return { ascii_count: ascii, wide_count: wide, min_length: min, scanned_bytes: scanned, truncated, sample, iocs: iocs.result() };
}

export function extractStrings(buf: Uint8Array, options: StringsOptions = {}): StringsResult {
  const o = { ...STRINGS_DEFAULTS, ...options };
  const min = Math.max(2, o.minLength);
  const end = Math.min(buf.length, o.maxBytes);
  return collect(buf, [scanRuns(buf, 0, end, min, o.sampleSize, o.maxIocChars)], o, min, end);
}

/** How many scans were split over two threads (for tests and benchmarks). */
export const stringsThreadStats = { splits: 0 };

/** Below this the second thread does not pay for its message. */
const SPLIT_MIN = 128 * 1024;

/**
 * extractStrings with the scan split in two at a "\0\0" (which no ASCII or UTF-16LE run crosses), the
 * second half on a worker thread, when the bytes are in a SharedArrayBuffer. Same result as extractStrings.
 */
export async function extractStringsParallel(buf: Uint8Array, options: StringsOptions = {}): Promise<StringsResult> {
  const o = { ...STRINGS_DEFAULTS, ...options };
  const min = Math.max(2, o.minLength);
  const end = Math.min(buf.length, o.maxBytes);
  const split = end >= SPLIT_MIN && buf.buffer instanceof SharedArrayBuffer ? Buffer.from(buf.buffer, buf.byteOffset, end).indexOf("\0\0", end >> 1, "latin1") : -1;
  const worker = o.threads && split > 0 && split < end - 1024 ? scanWorker() : undefined;
  if (!worker) return extractStrings(buf, options);
  const cut = split + 1;
  stringsThreadStats.splits++;
  const second = worker.scan(buf, cut, end, min, o.sampleSize, o.maxIocChars);
  const first = scanRuns(buf, 0, cut, min, o.sampleSize, o.maxIocChars);
  // A thread that failed costs speed, never the result.
  const rest = await second.catch(() => scanRuns(buf, cut, end, min, o.sampleSize, o.maxIocChars));
  return collect(buf, [first, rest], o, min, end);
}

const WORKER_SOURCE = `
const scanRuns = ${scanRuns.toString()};
self.onmessage = (ev) => {
  const m = ev.data;
  try {
    const r = scanRuns(new Uint8Array(m.sab, m.byteOffset, m.length), m.from, m.to, m.min, m.keepFirst, m.hintBudget);
    postMessage({ id: m.id, ok: true, r });
  } catch (e) {
    postMessage({ id: m.id, ok: false, error: String((e && e.message) || e) });
  }
};
`;

let sw: { scan(buf: Uint8Array, from: number, to: number, min: number, keepFirst: number, hintBudget: number): Promise<RunScan> } | undefined;
let swBroken = false;

function scanWorker(): typeof sw {
  if (sw || swBroken) return sw;
  try {
    const w = new Worker(URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" })));
    (w as unknown as { unref?: () => void }).unref?.();
    const waiting = new Map<number, { resolve: (r: RunScan) => void; reject: (e: Error) => void }>();
    let next = 1;
    w.onmessage = (ev: MessageEvent<{ id: number; ok: boolean; r?: RunScan; error?: string }>) => {
      const p = waiting.get(ev.data.id);
      if (!p) return;
      waiting.delete(ev.data.id);
      if (ev.data.ok) p.resolve(ev.data.r!);
      else p.reject(new Error(`strings thread: ${ev.data.error}`));
    };
    w.onerror = (ev) => {
      swBroken = true;
      sw = undefined;
      for (const p of waiting.values()) p.reject(new Error(`strings thread failed: ${ev.message}`));
      waiting.clear();
    };
    sw = {
      scan(buf, from, to, min, keepFirst, hintBudget) {
        const id = next++;
        const p = new Promise<RunScan>((resolve, reject) => waiting.set(id, { resolve, reject }));
        w.postMessage({ id, sab: buf.buffer, byteOffset: buf.byteOffset, length: buf.length, from, to, min, keepFirst, hintBudget });
        return p;
      },
    };
  } catch {
    swBroken = true;
  }
  return sw;
}
