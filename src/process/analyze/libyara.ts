/**
 * YARA through libyara (Debian's libyara9, YARA 4.2) over bun:ffi: rules are compiled once and scanned in
 * this process with every module the library was built with (pe, elf, math, hash, dotnet, time, console).
 * Matches are read the way the `yara` program reads them (yr_rule_strings_foreach / yr_string_matches_foreach),
 * so rule names, string identifiers, offsets and data are YARA's own.
 *
 * The struct offsets below are those of YARA 4.2.3's headers (yara/types.h, x86-64, pack(8)), checked with
 * offsetof() against libyara-dev 4.2.3 and proved by the differential test against the `yara` program. The
 * build does not need the headers: the library is found at run time by its soname.
 */
import { CString, JSCallback, type Pointer, dlopen, read, toArrayBuffer } from "bun:ffi";
import { closeSync, openSync } from "node:fs";

/** Found by soname; FALC_LIBYARA names another build of the same ABI (4.2). */
export const LIBYARA = process.env.FALC_LIBYARA || "libyara.so.9";

// yara/types.h, 4.2.3 (x86-64).
const RULE = { flags: 0, identifier: 8, tags: 16, metas: 24, strings: 32, ns: 40 };
const STRING = { flags: 0, idx: 4, identifier: 48, size: 56 };
const META = { identifier: 0, string: 8, integer: 16, type: 24, flags: 28, size: 32 };
const MATCHES_SIZE = 24; // YR_MATCHES {head, tail, count}
const MATCH = { base: 0, offset: 8, match_length: 16, data_length: 20, data: 24, next: 40, is_private: 52 };
const SCAN_CONTEXT_MATCHES = 160; // offsetof(YR_SCAN_CONTEXT, matches)
const STRING_FLAGS_HEXADECIMAL = 0x2;
const STRING_FLAGS_LAST_IN_RULE = 0x1000;
const META_FLAGS_LAST_IN_RULE = 1;
const META_TYPE = { integer: 1, string: 2, boolean: 3 };
const CALLBACK_MSG_RULE_MATCHING = 1;
const CALLBACK_MSG_TOO_MANY_MATCHES = 6;
const CALLBACK_MSG_CONSOLE_LOG = 7;
const SCAN_FLAGS_REPORT_RULES_MATCHING = 8;
const ERROR_SCAN_TIMEOUT = 26;

const symbols = {
  yr_initialize: { args: [], returns: "i32" },
  yr_compiler_create: { args: ["ptr"], returns: "i32" },
  yr_compiler_destroy: { args: ["ptr"], returns: "void" },
  yr_compiler_set_callback: { args: ["ptr", "function", "ptr"], returns: "void" },
  yr_compiler_add_fd: { args: ["ptr", "i32", "ptr", "ptr"], returns: "i32" },
  yr_compiler_add_string: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  yr_compiler_get_rules: { args: ["ptr", "ptr"], returns: "i32" },
  yr_rules_destroy: { args: ["ptr"], returns: "i32" },
  yr_scanner_create: { args: ["ptr", "ptr"], returns: "i32" },
  yr_scanner_destroy: { args: ["ptr"], returns: "void" },
  yr_scanner_set_callback: { args: ["ptr", "function", "ptr"], returns: "void" },
  yr_scanner_set_flags: { args: ["ptr", "i32"], returns: "void" },
  yr_scanner_set_timeout: { args: ["ptr", "i32"], returns: "void" },
  yr_scanner_scan_mem: { args: ["ptr", "ptr", "u64"], returns: "i32" },
  yr_scanner_scan_file: { args: ["ptr", "ptr"], returns: "i32" },
} as const;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | undefined;
let loadError: string | undefined;

/** libyara's functions, or why it cannot be loaded (the yara plugin then disables itself saying so). */
export function libyara(): Lib {
  if (lib) return lib;
  if (loadError) throw new YaraUnavailable(loadError);
  try {
    const l = dlopen(LIBYARA, symbols).symbols;
    const rc = l.yr_initialize();
    if (rc !== 0) throw new Error(`yr_initialize failed (${rc})`);
    lib = l;
    return l;
  } catch (e) {
    loadError = `${LIBYARA} cannot be loaded (${(e as Error).message.split("\n")[0]}); install Debian's libyara9`;
    throw new YaraUnavailable(loadError);
  }
}

export class YaraUnavailable extends Error {
  override name = "YaraUnavailable";
}

/** A rule source that did not compile: `file:line: message` for each error. */
export class YaraCompileError extends Error {
  override name = "YaraCompileError";
  constructor(readonly file: string, readonly errors: string[]) {
    super(errors.join("; "));
  }
}

export interface RuleSource {
  /** Shown in errors and used as the rule namespace; a path is also where `include` resolves from. */
  file: string;
  /** The rule text; when absent the file is read by libyara itself. */
  text?: string;
}

export interface YaraStringMatch {
  /** `$name` as written in the rule. */
  id: string;
  offset: number;
  /** Length of the whole match (the data below is cut at YARA's 512-byte match-data limit). */
  length: number;
  /** The matched bytes as `yara -s` prints them: hex pairs for hex strings, else text with \xNN escapes. */
  data: string;
}

export interface YaraMatch {
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  strings: YaraStringMatch[];
}

export interface ScanResult {
  matches: YaraMatch[];
  /** console module output, in order. */
  console: string[];
  /** Strings that hit YARA's per-string match limit (their later matches are dropped by YARA). */
  too_many_matches: string[];
  timed_out: boolean;
}

const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");
const str = (p: number) => (p ? new CString(p as Pointer).toString() : "");

/** Renders match data exactly as the yara program's -s option does. */
export function yaraPrintable(bytes: Uint8Array, hex: boolean): string {
  if (hex) {
    const parts = [...bytes.subarray(0, 64)].map((b) => b.toString(16).toUpperCase().padStart(2, "0"));
    return parts.join(" ") + (bytes.length > 64 ? " ..." : "");
  }
  let out = "";
  for (const b of bytes) out += b >= 32 && b <= 126 ? String.fromCharCode(b) : `\\x${b.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}

function compileInto(l: Lib, sources: RuleSource[]): { rules?: number; errors: Map<string, string[]>; warnings: string[] } {
  const errors = new Map<string, string[]>();
  const warnings: string[] = [];
  let current = "";
  const cb = new JSCallback(
    (level: number, fileName: number, line: number, _rule: number, message: number) => {
      const where = `${str(fileName) || current}:${line}`;
      const text = `${where}: ${str(message)}`;
      if (level === 0) errors.set(current, [...(errors.get(current) ?? []), text]);
      else warnings.push(text);
    },
    { args: ["i32", "ptr", "i32", "ptr", "ptr", "ptr"], returns: "void" },
  );
  const out = new BigUint64Array(1);
  try {
    if (l.yr_compiler_create(out) !== 0) throw new Error("yr_compiler_create failed");
    const compiler = Number(out[0]) as Pointer;
    try {
      l.yr_compiler_set_callback(compiler, cb.ptr, null);
      for (const s of sources) {
        current = s.file;
        const ns = cstr(s.file);
        let n: number;
        if (s.text !== undefined) n = l.yr_compiler_add_string(compiler, cstr(s.text), ns);
        else {
          let fd: number;
          try {
            fd = openSync(s.file, "r");
          } catch (e) {
            errors.set(s.file, [`${s.file}: cannot read: ${(e as Error).message}`]);
            // A compiler that saw an error cannot produce rules; stop here, the caller retries without this file.
            return { errors, warnings };
          }
          try {
            n = l.yr_compiler_add_fd(compiler, fd, ns, cstr(s.file));
          } finally {
            closeSync(fd);
          }
        }
        if (n > 0 && !errors.has(s.file)) errors.set(s.file, [`${s.file}: does not compile`]);
        if (n > 0) return { errors, warnings };
      }
      out[0] = 0n;
      if (l.yr_compiler_get_rules(compiler, out) !== 0) throw new Error("yr_compiler_get_rules failed");
      return { rules: Number(out[0]), errors, warnings };
    } finally {
      l.yr_compiler_destroy(compiler);
    }
  } finally {
    cb.close();
  }
}

/**
 * Compiled rules, serving a worker's whole life. Each scan gets a fresh scanner: libyara 4.2 keeps a
 * scanner's entry point from one scan to the next (a script scanned after an ELF file would have the ELF's
 * `entrypoint`), and a scanner costs a few small allocations.
 */
export class Yara {
  private current: ScanResult | undefined;
  private readonly cb: JSCallback;

  private constructor(
    private readonly l: Lib,
    private rulesPtr: Pointer,
    /** Files left out because they do not compile, with YARA's errors (file:line: message). */
    readonly disabled: YaraCompileError[],
    readonly warnings: string[],
    readonly sources: string[],
  ) {
    this.cb = new JSCallback((ctx: number, msg: number, data: number) => this.onMessage(ctx, msg, data), {
      args: ["ptr", "i32", "ptr", "ptr"],
      returns: "i32",
    });
  }

  /**
   * Compiles every source into one rule set, each in its own namespace (two files may name a rule alike).
   * `strict` sources must compile (a YaraCompileError names file:line); a source that is not strict and
   * does not compile is left out and listed in `disabled`, and the others are still used.
   */
  static compile(sources: (RuleSource & { strict?: boolean })[]): Yara {
    const l = libyara();
    let kept = [...sources];
    const disabled: YaraCompileError[] = [];
    for (;;) {
      const r = compileInto(l, kept);
      if (r.rules !== undefined) return new Yara(l, r.rules as Pointer, disabled, r.warnings, kept.map((s) => s.file));
      // The first failing source stops the compiler; leave it out (or fail if it must compile) and go again.
      const [file, errs] = [...r.errors][0] ?? ["", ["rules do not compile"]];
      const bad = kept.find((s) => s.file === file);
      if (!bad || bad.strict) throw new YaraCompileError(file, errs);
      disabled.push(new YaraCompileError(file, errs));
      kept = kept.filter((s) => s !== bad);
    }
  }

  private onMessage(ctx: number, msg: number, data: number): number {
    const res = this.current;
    if (!res) return 0;
    if (msg === CALLBACK_MSG_RULE_MATCHING) res.matches.push(this.readRule(ctx, data));
    else if (msg === CALLBACK_MSG_CONSOLE_LOG) res.console.push(str(data));
    else if (msg === CALLBACK_MSG_TOO_MANY_MATCHES) res.too_many_matches.push(str(read.ptr(data as Pointer, STRING.identifier)));
    return 0;
  }

  private readRule(ctx: number, rule: number): YaraMatch {
    const r = rule as Pointer;
    const tags: string[] = [];
    for (let t = read.ptr(r, RULE.tags); t; ) {
      const s = str(t);
      if (!s) break;
      tags.push(s);
      t += Buffer.byteLength(s) + 1;
    }
    const meta: YaraMatch["meta"] = {};
    for (let m = read.ptr(r, RULE.metas); m; m += META.size) {
      const mp = m as Pointer;
      const type = read.i32(mp, META.type);
      const id = str(read.ptr(mp, META.identifier));
      if (type === META_TYPE.string) meta[id] = str(read.ptr(mp, META.string));
      else if (type === META_TYPE.integer) meta[id] = Number(read.i64(mp, META.integer));
      else if (type === META_TYPE.boolean) meta[id] = Number(read.i64(mp, META.integer)) !== 0;
      if (read.i32(mp, META.flags) & META_FLAGS_LAST_IN_RULE) break;
    }
    const strings: YaraStringMatch[] = [];
    const table = read.ptr(ctx as Pointer, SCAN_CONTEXT_MATCHES);
    for (let s = read.ptr(r, RULE.strings); s; s += STRING.size) {
      const sp = s as Pointer;
      const flags = read.u32(sp, STRING.flags);
      const id = str(read.ptr(sp, STRING.identifier));
      const idx = read.u32(sp, STRING.idx);
      for (let m = read.ptr((table + idx * MATCHES_SIZE) as Pointer, 0); m; m = read.ptr(m as Pointer, MATCH.next)) {
        const mp = m as Pointer;
        if (read.u8(mp, MATCH.is_private)) continue;
        const dataLen = read.i32(mp, MATCH.data_length);
        const dataPtr = read.ptr(mp, MATCH.data);
        const bytes = dataLen > 0 && dataPtr ? new Uint8Array(toArrayBuffer(dataPtr as Pointer, 0, dataLen)) : new Uint8Array(0);
        strings.push({
          id,
          offset: Number(read.i64(mp, MATCH.base)) + Number(read.i64(mp, MATCH.offset)),
          length: read.i32(mp, MATCH.match_length),
          data: yaraPrintable(bytes, (flags & STRING_FLAGS_HEXADECIMAL) !== 0),
        });
      }
      if (flags & STRING_FLAGS_LAST_IN_RULE) break;
    }
    const ns = read.ptr(r, RULE.ns);
    return { rule: str(read.ptr(r, RULE.identifier)), namespace: ns ? str(read.ptr(ns as Pointer, 0)) : "", tags, meta, strings };
  }

  private run(timeoutSeconds: number, fn: (scanner: Pointer) => number): ScanResult {
    if (!this.rulesPtr) throw new Error("yara rules are closed");
    const out = new BigUint64Array(1);
    if (this.l.yr_scanner_create(this.rulesPtr, out) !== 0) throw new Error("yr_scanner_create failed");
    const scanner = Number(out[0]) as Pointer;
    const res: ScanResult = { matches: [], console: [], too_many_matches: [], timed_out: false };
    this.current = res;
    let rc: number;
    try {
      this.l.yr_scanner_set_callback(scanner, this.cb.ptr, null);
      this.l.yr_scanner_set_flags(scanner, SCAN_FLAGS_REPORT_RULES_MATCHING);
      this.l.yr_scanner_set_timeout(scanner, timeoutSeconds);
      rc = fn(scanner);
    } finally {
      this.current = undefined;
      this.l.yr_scanner_destroy(scanner);
    }
    if (rc === ERROR_SCAN_TIMEOUT) res.timed_out = true;
    else if (rc !== 0) throw new Error(`yara scan failed (libyara error ${rc})`);
    return res;
  }

  /** Scans bytes held in memory (entrypoint and modules see them as a file of that size). */
  scanBytes(bytes: Uint8Array, timeoutSeconds = 60): ScanResult {
    // libyara wants a non-null pointer even for an empty buffer.
    const buf = bytes.length ? bytes : new Uint8Array(1);
    return this.run(timeoutSeconds, (sc) => this.l.yr_scanner_scan_mem(sc, buf, bytes.length));
  }

  /** Scans a file the way `yara` does (libyara maps it). */
  scanFile(path: string, timeoutSeconds = 60): ScanResult {
    return this.run(timeoutSeconds, (sc) => this.l.yr_scanner_scan_file(sc, cstr(path)));
  }

  close(): void {
    if (!this.rulesPtr) return;
    this.l.yr_rules_destroy(this.rulesPtr);
    this.rulesPtr = 0 as unknown as Pointer;
    this.cb.close();
  }
}
