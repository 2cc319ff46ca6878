/**
 * A small YARA subset, so rules run inside the compiled binary without a native engine.
 *
 * Supported:
 *   rule NAME [: tags] { meta: k = "v" | 123 | true   strings: ...   condition: ... }   (private/global accepted, ignored)
 *   strings: "text" with nocase, wide, ascii, fullword, xor-less escapes (\n \t \r \\ \" \xNN);
 *            { 4D 5A ?? 9? [2-4] ( 6A | 6B ) } hex with wildcards, nibbles, jumps and alternatives;
 *            /regex/ with i and s flags (JavaScript syntax, which YARA's mostly is) and nocase/wide/ascii.
 *   condition: and, or, not, ( ), true, false, $a, $a at N, $a in (N..M), #a (count), filesize, numbers
 *            with KB/MB, == != < <= > >=, any/all/none/N of them / of ($a, $b*), uint8/16/32[be](N),
 *            and other rules by name.
 * Not supported (a clear error at load): imports/modules (pe, elf, math...), for..of loops, @a[i], !a[i],
 * arithmetic, xor/base64 modifiers, external variables.
 */
import { FormatError, type TextView, textView } from "./bytes.ts";

export class YaraError extends FormatError {
  constructor(message: string, readonly file?: string, readonly line?: number) {
    super(`${file ?? "rules"}${line ? `:${line}` : ""}: ${message}`);
    this.name = "YaraError";
  }
}

type Tok = { t: "id" | "var" | "count" | "num" | "str" | "regex" | "hex" | "op"; v: string; n?: number; line: number; flags?: string };

const KEYWORDS_UNSUPPORTED = new Set(["for", "xor", "base64", "base64wide", "entrypoint", "matches", "contains", "icontains", "startswith", "endswith"]);

function tokenize(src: string, file?: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  // Hex strings and regexes are only valid right after "=" in a strings: section.
  const afterEquals = () => toks.length > 0 && toks[toks.length - 1]!.t === "op" && toks[toks.length - 1]!.v === "=";
  while (i < src.length) {
    const c = src[i]!;
    if (c === "\n") { line++; i++; continue; }
    if (/\s/.test(c)) { i++; continue; }
    if (src.startsWith("//", i)) { while (i < src.length && src[i] !== "\n") i++; continue; }
    if (src.startsWith("/*", i)) {
      const e = src.indexOf("*/", i + 2);
      if (e < 0) throw new YaraError("unterminated comment", file, line);
      line += src.slice(i, e).split("\n").length - 1;
      i = e + 2;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let out = "";
      while (j < src.length && src[j] !== '"') {
        if (src[j] === "\n") throw new YaraError("unterminated string", file, line);
        if (src[j] === "\\") {
          const e = src[j + 1];
          if (e === "n") out += "\n";
          else if (e === "t") out += "\t";
          else if (e === "r") out += "\r";
          else if (e === "x") {
            out += String.fromCharCode(parseInt(src.slice(j + 2, j + 4), 16));
            j += 2;
          } else out += e;
          j += 2;
        } else out += src[j++];
      }
      if (j >= src.length) throw new YaraError("unterminated string", file, line);
      toks.push({ t: "str", v: out, line });
      i = j + 1;
      continue;
    }
    if (c === "{" && afterEquals()) {
      const e = src.indexOf("}", i);
      if (e < 0) throw new YaraError("unterminated hex string", file, line);
      toks.push({ t: "hex", v: src.slice(i + 1, e), line });
      line += src.slice(i, e).split("\n").length - 1;
      i = e + 1;
      continue;
    }
    if (c === "/" && afterEquals()) {
      let j = i + 1;
      let body = "";
      while (j < src.length && src[j] !== "/") {
        if (src[j] === "\n") throw new YaraError("unterminated regular expression", file, line);
        if (src[j] === "\\") { body += src[j]! + src[j + 1]!; j += 2; } else body += src[j++];
      }
      j++;
      let flags = "";
      while (j < src.length && /[is]/.test(src[j]!)) flags += src[j++];
      toks.push({ t: "regex", v: body, flags, line });
      i = j;
      continue;
    }
    const m = /^(?:\$[A-Za-z0-9_]*\*?|#[A-Za-z0-9_]+|0x[0-9a-fA-F]+|\d+(?:KB|MB)?|[A-Za-z_][A-Za-z0-9_]*|==|!=|<=|>=|\.\.|[(){}:=,<>*%\[\].-])/.exec(src.slice(i, i + 256));
    if (!m) throw new YaraError(`unexpected character ${JSON.stringify(c)}`, file, line);
    const s = m[0];
    if (s[0] === "$") toks.push({ t: "var", v: s, line });
    else if (s[0] === "#") toks.push({ t: "count", v: "$" + s.slice(1), line });
    else if (/^\d|^0x/.test(s)) {
      let n = s.startsWith("0x") ? parseInt(s, 16) : parseInt(s, 10);
      if (s.endsWith("KB")) n *= 1024;
      if (s.endsWith("MB")) n *= 1024 * 1024;
      toks.push({ t: "num", v: s, n, line });
    } else if (/^[A-Za-z_]/.test(s)) toks.push({ t: "id", v: s, line });
    else toks.push({ t: "op", v: s, line });
    i += s.length;
  }
  return toks;
}

/** One searchable form of a string (its ascii and wide forms are two). */
export interface StringForm {
  re: RegExp;
  /** Plain case-sensitive text: indexOf finds it (faster than a regex). */
  literal?: string;
  /** A piece every match contains: when it is absent the regex is not run (YARA's atoms). */
  atom?: { text: string; nocase: boolean };
}

export interface YaraString {
  id: string;
  kind: "text" | "hex" | "regex";
  forms: StringForm[];
}

type Expr =
  | { k: "bool"; v: boolean }
  | { k: "num"; v: number }
  | { k: "filesize" }
  | { k: "str"; id: string; at?: number; range?: [number, number] }
  | { k: "count"; id: string }
  | { k: "of"; q: "any" | "all" | "none" | number; pct?: boolean; ids: string[] }
  | { k: "int"; size: 1 | 2 | 4; be: boolean; off: Expr }
  | { k: "rule"; name: string }
  | { k: "not"; e: Expr }
  | { k: "and" | "or"; a: Expr; b: Expr }
  | { k: "cmp"; op: string; a: Expr; b: Expr };

export interface YaraRule {
  name: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  strings: YaraString[];
  condition: Expr;
  private: boolean;
  file?: string;
}

function escapeRe(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, (c) => "\\" + c).replace(/[\x00-\x1f\x7f-\xff]/g, (c) => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"));
}

function wideRe(s: string): string {
  return [...s].map((c) => escapeRe(c) + "\\x00").join("");
}

function widen(s: string): string {
  return [...s].map((c) => c + "\0").join("");
}

const QUANT = /^(?:[*+?]|\{\d*(?:,\d*)?\})\??/;

/**
 * The longest literal run a match of this regex must contain (top level only, no alternation), or
 * undefined. Conservative: anything unclear ends the run.
 */
export function regexAtom(src: string): string | undefined {
  let best = "";
  let cur = "";
  let depth = 0;
  const flush = () => {
    if (cur.length > best.length) best = cur;
    cur = "";
  };
  for (let i = 0; i < src.length; ) {
    const c = src[i]!;
    let lit: string | undefined;
    if (c === "\\") {
      const n = src[i + 1] ?? "";
      if (n === "x" && /^[0-9a-fA-F]{2}$/.test(src.slice(i + 2, i + 4))) {
        lit = String.fromCharCode(parseInt(src.slice(i + 2, i + 4), 16));
        i += 4;
      } else if (/[dDsSwWbBnrtfv0-9ucpPk]/.test(n)) {
        flush();
        i += 2;
      } else {
        lit = n;
        i += 2;
      }
    } else if (c === "(") {
      flush();
      depth++;
      i++;
      continue;
    } else if (c === ")") {
      flush();
      depth--;
      i++;
    } else if (c === "[") {
      flush();
      let j = i + 1;
      if (src[j] === "^") j++;
      if (src[j] === "]") j++;
      while (j < src.length && src[j] !== "]") j += src[j] === "\\" ? 2 : 1;
      i = j + 1;
    } else if (c === "|") {
      if (depth === 0) return undefined;
      i++;
      continue;
    } else if (c === "." || c === "^" || c === "$") {
      flush();
      i++;
    } else {
      lit = c;
      i++;
    }
    const q = QUANT.exec(src.slice(i));
    if (lit !== undefined && depth === 0) {
      if (q && q[0][0] !== "+") {
        flush();
      } else {
        cur += lit;
        if (q) flush();
      }
    } else if (q) flush();
    if (q) i += q[0].length;
  }
  flush();
  return best.length >= 3 ? best : undefined;
}

/** The regex that matches the UTF-16LE form of what `src` matches: every single-character atom gets a \x00 after it. */
export function wideRegex(src: string): string {
  let out = "";
  for (let i = 0; i < src.length; ) {
    const c = src[i]!;
    let atom: string | undefined;
    if (c === "\\") {
      const n = src[i + 1] ?? "";
      const len = n === "x" ? 4 : n === "u" ? 6 : 2;
      if (/[bB]/.test(n)) {
        out += src.slice(i, i + 2);
        i += 2;
        continue;
      }
      atom = src.slice(i, i + len);
      i += len;
    } else if (c === "[") {
      let j = i + 1;
      if (src[j] === "^") j++;
      if (src[j] === "]") j++;
      while (j < src.length && src[j] !== "]") j += src[j] === "\\" ? 2 : 1;
      atom = src.slice(i, j + 1);
      i = j + 1;
    } else if (c === "(") {
      const m = /^\((?:\?(?::|=|!|<=|<!))?/.exec(src.slice(i))!;
      out += m[0];
      i += m[0].length;
      continue;
    } else if (c === ")" || c === "|" || c === "^" || c === "$") {
      out += c;
      i++;
      continue;
    } else {
      const q = QUANT.exec(src.slice(i));
      if (q) {
        out += q[0];
        i += q[0].length;
        continue;
      }
      atom = c;
      i++;
    }
    out += `(?:${atom}\\x00)`;
  }
  return out;
}

/** The longest run of fixed bytes in a hex string (outside alternatives), for the prefilter. */
function hexAtom(body: string): string | undefined {
  const toks = body.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, " ").match(/\[[^\]]*\]|\?\?|[0-9a-fA-F?]{2}|[()|~]|\S/g) ?? [];
  let best = "";
  let cur = "";
  let depth = 0;
  for (const t of toks) {
    if (t === "(") depth++;
    if (t === ")") depth--;
    if (depth === 0 && /^[0-9a-fA-F]{2}$/.test(t)) cur += String.fromCharCode(parseInt(t, 16));
    else {
      if (cur.length > best.length) best = cur;
      cur = "";
    }
  }
  if (cur.length > best.length) best = cur;
  return best.length >= 2 ? best : undefined;
}

function hexToRe(body: string, file?: string, line?: number): string {
  const toks = body.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, " ").match(/\[[^\]]*\]|\?\?|[0-9a-fA-F?]{2}|[()|~]|\S/g) ?? [];
  let out = "";
  let bytes = 0;
  for (const t of toks) {
    if (t === "(") out += "(?:";
    else if (t === ")" || t === "|") out += t;
    else if (t === "??") { out += "[\\s\\S]"; bytes++; }
    else if (t.startsWith("[")) {
      const m = /^\[\s*(\d*)\s*(?:(-)\s*(\d*))?\s*\]$/.exec(t);
      if (!m) throw new YaraError(`bad jump ${t} in hex string`, file, line);
      const lo = m[1] ? Number(m[1]) : 0;
      const hi = m[2] ? (m[3] ? Number(m[3]) : 4096) : lo;
      if (hi < lo || hi > 65536) throw new YaraError(`bad jump ${t} in hex string`, file, line);
      out += `[\\s\\S]{${lo},${hi}}`;
    } else if (/^[0-9a-fA-F]{2}$/.test(t)) {
      out += "\\x" + t.toLowerCase();
      bytes++;
    } else if (/^[0-9a-fA-F?]{2}$/.test(t)) {
      // Nibble wildcard: list the 16 bytes it stands for.
      const chars: string[] = [];
      for (let n = 0; n < 16; n++) {
        const hexs = t[0] === "?" ? n.toString(16) + t[1] : t[0] + n.toString(16);
        chars.push("\\x" + hexs.toLowerCase());
      }
      out += `[${chars.join("")}]`;
      bytes++;
    } else if (t === "~") throw new YaraError("negated hex bytes (~) are not supported", file, line);
    else throw new YaraError(`unexpected ${JSON.stringify(t)} in hex string`, file, line);
  }
  if (bytes === 0) throw new YaraError("hex string has no bytes", file, line);
  return out;
}

class Parser {
  private p = 0;
  constructor(private readonly toks: Tok[], private readonly file?: string) {}
  private peek(o = 0): Tok | undefined {
    return this.toks[this.p + o];
  }
  private err(msg: string, line?: number): never {
    throw new YaraError(msg, this.file, line ?? this.peek()?.line ?? this.toks[this.toks.length - 1]?.line);
  }
  private next(): Tok {
    const t = this.toks[this.p++];
    if (!t) this.err("unexpected end of rules");
    return t;
  }
  private is(v: string, o = 0): boolean {
    const t = this.peek(o);
    return !!t && (t.t === "op" || t.t === "id") && t.v === v;
  }
  private expect(v: string): Tok {
    const t = this.next();
    if (t.v !== v || (t.t !== "op" && t.t !== "id")) this.err(`expected ${JSON.stringify(v)}, found ${JSON.stringify(t.v)}`);
    return t;
  }

  rules(): YaraRule[] {
    const out: YaraRule[] = [];
    while (this.peek()) {
      if (this.is("import") || this.is("include")) {
        this.next();
        const what = this.next();
        this.err(`${this.toks[this.p - 2]!.v} ${JSON.stringify(what.v)} is not supported by falc's YARA subset (no modules)`);
      }
      out.push(this.rule());
    }
    return out;
  }

  private rule(): YaraRule {
    let priv = false;
    while (this.is("private") || this.is("global")) priv = this.next().v === "private" || priv;
    this.expect("rule");
    const nameTok = this.next();
    if (nameTok.t !== "id") this.err("rule name expected");
    const tags: string[] = [];
    if (this.is(":")) {
      this.next();
      while (this.peek()?.t === "id" && !this.is("{")) tags.push(this.next().v);
    }
    this.expect("{");
    const meta: YaraRule["meta"] = {};
    const strings: YaraString[] = [];
    if (this.is("meta")) {
      this.next();
      this.expect(":");
      while (this.peek()?.t === "id" && this.is("=", 1)) {
        const k = this.next().v;
        this.next();
        const v = this.next();
        meta[k] = v.t === "num" ? v.n! : v.t === "id" && (v.v === "true" || v.v === "false") ? v.v === "true" : v.v;
      }
    }
    if (this.is("strings")) {
      this.next();
      this.expect(":");
      while (this.peek()?.t === "var") strings.push(this.stringDef(strings.length));
    }
    this.expect("condition");
    this.expect(":");
    const condition = this.expr(strings);
    this.expect("}");
    return { name: nameTok.v, tags, meta, strings, condition, private: priv, file: this.file };
  }

  private stringDef(index: number): YaraString {
    const idTok = this.next();
    const id = idTok.v === "$" ? `$${index}` : idTok.v;
    this.expect("=");
    const val = this.next();
    const mods = new Set<string>();
    while (this.peek()?.t === "id" && ["nocase", "wide", "ascii", "fullword", "private", "xor", "base64", "base64wide"].includes(this.peek()!.v)) mods.add(this.next().v);
    for (const m of mods) if (KEYWORDS_UNSUPPORTED.has(m)) this.err(`string modifier ${m} is not supported`);
    const wide = mods.has("wide");
    const ascii = mods.has("ascii") || !wide;
    let flags = "g";
    const nocase = mods.has("nocase");
    if (val.t === "str") {
      if (!val.v.length) this.err(`${id} is empty`);
      if (nocase) flags += "i";
      const forms: StringForm[] = [];
      for (const [on, src, text] of [[ascii, escapeRe(val.v), val.v], [wide, wideRe(val.v), widen(val.v)]] as const) {
        if (!on) continue;
        const full = mods.has("fullword") ? `(?<![A-Za-z0-9_])${src}(?![A-Za-z0-9_])` : src;
        forms.push({ re: new RegExp(full, flags), literal: !nocase && !mods.has("fullword") ? text : undefined, atom: { text, nocase } });
      }
      return { id, kind: "text", forms };
    }
    if (val.t === "hex") {
      const atom = hexAtom(val.v);
      return { id, kind: "hex", forms: [{ re: new RegExp(hexToRe(val.v, this.file, val.line), "g"), atom: atom ? { text: atom, nocase: false } : undefined }] };
    }
    if (val.t === "regex") {
      const ci = val.flags?.includes("i") || nocase;
      if (ci) flags += "i";
      if (val.flags?.includes("s")) flags += "s";
      const atom = regexAtom(val.v);
      try {
        const forms: StringForm[] = [];
        if (ascii) forms.push({ re: new RegExp(val.v, flags), atom: atom ? { text: atom, nocase: !!ci } : undefined });
        if (wide) forms.push({ re: new RegExp(wideRegex(val.v), flags), atom: atom ? { text: widen(atom), nocase: !!ci } : undefined });
        return { id, kind: "regex", forms };
      } catch (e) {
        this.err(`${id}: invalid regular expression: ${(e as Error).message}`);
      }
    }
    this.err(`${id}: a text, hex or regex string is expected`);
  }

  private expr(strings: YaraString[]): Expr {
    let a = this.andExpr(strings);
    while (this.is("or")) {
      this.next();
      a = { k: "or", a, b: this.andExpr(strings) };
    }
    return a;
  }
  private andExpr(strings: YaraString[]): Expr {
    let a = this.notExpr(strings);
    while (this.is("and")) {
      this.next();
      a = { k: "and", a, b: this.notExpr(strings) };
    }
    return a;
  }
  private notExpr(strings: YaraString[]): Expr {
    if (this.is("not")) {
      this.next();
      return { k: "not", e: this.notExpr(strings) };
    }
    const a = this.primary(strings);
    const t = this.peek();
    if (t?.t === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(t.v)) {
      this.next();
      return { k: "cmp", op: t.v, a, b: this.primary(strings) };
    }
    return a;
  }
  private ids(strings: YaraString[]): string[] {
    if (this.is("them")) {
      this.next();
      return strings.map((s) => s.id);
    }
    this.expect("(");
    const out: string[] = [];
    for (;;) {
      const v = this.next();
      if (v.t !== "var") this.err("string identifier expected in set");
      if (v.v.endsWith("*")) out.push(...strings.filter((s) => s.id.startsWith(v.v.slice(0, -1))).map((s) => s.id));
      else out.push(v.v);
      if (this.is(",")) { this.next(); continue; }
      this.expect(")");
      return out;
    }
  }
  private checkId(t: Tok, strings: YaraString[]): void {
    if (!strings.some((s) => s.id === t.v)) this.err(`undefined string ${t.v}`, t.line);
  }
  private primary(strings: YaraString[]): Expr {
    const t = this.next();
    if (t.t === "op" && t.v === "(") {
      const e = this.expr(strings);
      this.expect(")");
      return e;
    }
    if (t.t === "num") {
      if (this.is("of") || this.is("%")) {
        let pct = false;
        if (this.is("%")) { this.next(); pct = true; }
        this.expect("of");
        return { k: "of", q: t.n!, pct, ids: this.ids(strings) };
      }
      return { k: "num", v: t.n! };
    }
    if (t.t === "var") {
      this.checkId(t, strings);
      if (this.is("at")) {
        this.next();
        const n = this.next();
        if (n.t !== "num") this.err("offset expected after 'at'");
        return { k: "str", id: t.v, at: n.n };
      }
      if (this.is("in")) {
        this.next();
        this.expect("(");
        const lo = this.next();
        this.expect("..");
        const hi = this.next();
        this.expect(")");
        if (lo.t !== "num" || hi.t !== "num") this.err("numbers expected in range");
        return { k: "str", id: t.v, range: [lo.n!, hi.n!] };
      }
      return { k: "str", id: t.v };
    }
    if (t.t === "count") {
      this.checkId(t, strings);
      return { k: "count", id: t.v };
    }
    if (t.t === "id") {
      if (t.v === "true" || t.v === "false") return { k: "bool", v: t.v === "true" };
      if (t.v === "filesize") return { k: "filesize" };
      if (t.v === "any" || t.v === "all" || t.v === "none") {
        this.expect("of");
        return { k: "of", q: t.v, ids: this.ids(strings) };
      }
      const im = /^(u?int)(8|16|32)(be)?$/.exec(t.v);
      if (im) {
        this.expect("(");
        const off = this.expr(strings);
        this.expect(")");
        return { k: "int", size: (Number(im[2]) / 8) as 1 | 2 | 4, be: !!im[3], off };
      }
      if (KEYWORDS_UNSUPPORTED.has(t.v) || this.is(".")) this.err(`${t.v} is not supported by falc's YARA subset`);
      return { k: "rule", name: t.v };
    }
    this.err(`unexpected ${JSON.stringify(t.v)} in condition`);
  }
}

export function parseRules(src: string, file?: string): YaraRule[] {
  const rules = new Parser(tokenize(src, file), file).rules();
  const names = new Set<string>();
  for (const r of rules) {
    if (names.has(r.name)) throw new YaraError(`duplicate rule ${r.name}`, file);
    names.add(r.name);
  }
  return rules;
}

export interface YaraMatch {
  rule: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  strings: { id: string; offset: number; data: string }[];
}

export interface ScanOptions {
  /** Matches counted per string at most. */
  maxMatchesPerString?: number;
}

const MAX_OFFSETS = 8;

/** Compiled rules: scan a buffer, get the matching (non-private) rules with their first string hits. */
export class YaraRules {
  constructor(readonly rules: YaraRule[]) {
    const names = new Set<string>();
    for (const r of rules) {
      if (names.has(r.name)) throw new YaraError(`duplicate rule ${r.name}`, r.file);
      names.add(r.name);
    }
    const check = (e: Expr, r: YaraRule, seen: Set<string>): void => {
      if (e.k === "rule" && !names.has(e.name)) throw new YaraError(`rule ${r.name} refers to unknown identifier ${e.name}`, r.file);
      for (const v of Object.values(e)) if (v && typeof v === "object" && "k" in v) check(v as Expr, r, seen);
    };
    for (const r of rules) check(r.condition, r, new Set());
    const atoms = new Set<string>();
    for (const r of rules) for (const st of r.strings) for (const f of st.forms) if (f.atom) atoms.add(f.atom.text.toLowerCase());
    // One case-insensitive alternation finds which atoms occur in a single pass (a superset for the
    // case-sensitive ones), instead of one pass per string.
    this.atomScan = atoms.size ? new RegExp([...atoms].sort((a, b) => b.length - a.length).map(escapeRe).join("|"), "gi") : undefined;
    // The scan restarts one character after each match, so overlapping atoms are all seen, except an atom
    // that is a prefix of a longer one (the longer wins at that position): those are checked directly.
    for (const a of atoms) for (const b of atoms) if (a !== b && b.startsWith(a)) this.prefixAtoms.add(a);
  }

  private readonly atomScan: RegExp | undefined;
  private readonly prefixAtoms = new Set<string>();

  static fromSources(sources: { text: string; file?: string }[]): YaraRules {
    return new YaraRules(sources.flatMap((s) => parseRules(s.text, s.file)));
  }

  scan(buf: Uint8Array, opts: ScanOptions = {}, fileSize = buf.length): YaraMatch[] {
    const maxHits = opts.maxMatchesPerString ?? 1000;
    if (!this.rules.length) return [];
    // The whole file as a latin1 string costs a pass of its own: built only when a condition needs a full search.
    const text = textView(buf);
    let hayCache: string | undefined;
    const hayOf = () => (hayCache ??= text.latin1Slice(0, buf.byteLength));
    let present: Set<string> | "all" | undefined;
    const atomPresent = (atom: string): boolean => {
      if (!present) {
        present = new Set();
        const re = this.atomScan!;
        re.lastIndex = 0;
        const hay = hayOf();
        for (let m = re.exec(hay), n = 0; m; m = re.exec(hay), n++) {
          if (n > 100_000) {
            present = "all";
            break;
          }
          present.add(m[0].toLowerCase());
          re.lastIndex = m.index + 1;
        }
      }
      const key = atom.toLowerCase();
      if (present === "all" || present.has(key)) return true;
      return this.prefixAtoms.has(key) && hayOf().toLowerCase().includes(key);
    };
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const ruleResults = new Map<string, boolean>();
    const matches: YaraMatch[] = [];
    for (const rule of this.rules) {
      const hits = new Map<string, { offsets: number[]; count: number; data: string[] }>();
      const find = (s: YaraString) => {
        let h = hits.get(s.id);
        if (h) return h;
        h = { offsets: [], count: 0, data: [] };
        const hay = hayOf();
        for (const f of s.forms) {
          if (f.literal !== undefined) {
            if (!atomPresent(f.literal)) continue;
            for (let at = hay.indexOf(f.literal); at >= 0 && h.count < maxHits; at = hay.indexOf(f.literal, at + 1)) {
              h.count++;
              if (h.offsets.length < MAX_OFFSETS) { h.offsets.push(at); h.data.push(f.literal); }
            }
            continue;
          }
          // A literal-prefix regex with the i flag runs at memory speed, a general one does not: test the atom first.
          if (f.atom && !atomPresent(f.atom.text)) continue;
          f.re.lastIndex = 0;
          for (let m = f.re.exec(hay); m && h.count < maxHits; m = f.re.exec(hay)) {
            h.count++;
            if (h.offsets.length < MAX_OFFSETS) { h.offsets.push(m.index); h.data.push(m[0].slice(0, 64)); }
            if (m[0].length === 0) f.re.lastIndex++;
          }
        }
        hits.set(s.id, h);
        return h;
      };
      const byId = new Map(rule.strings.map((s) => [s.id, s]));
      const val = (e: Expr): number | boolean => {
        switch (e.k) {
          case "bool": return e.v;
          case "num": return e.v;
          case "filesize": return fileSize;
          case "count": return find(byId.get(e.id)!).count;
          case "str": {
            const str = byId.get(e.id)!;
            if (e.at !== undefined || e.range) {
              // Anchored: search only the window (a header check must not cost a pass over a 100 MB file).
              if (hits.has(e.id)) {
                const h = hits.get(e.id)!;
                if (e.at !== undefined && h.count <= MAX_OFFSETS) return h.offsets.includes(e.at);
                if (e.range && h.count <= MAX_OFFSETS) return h.offsets.some((o) => o >= e.range![0] && o <= e.range![1]);
              }
              const lo = Math.max(0, e.at ?? e.range![0]);
              const hi = e.at ?? e.range![1];
              return windowMatch(str, text, lo, hi, buf.byteLength);
            }
            return find(str).count > 0;
          }
          case "of": {
            const n = e.ids.filter((id) => find(byId.get(id)!).count > 0).length;
            if (e.q === "any") return n > 0;
            if (e.q === "all") return n === e.ids.length;
            if (e.q === "none") return n === 0;
            return e.pct ? n * 100 >= e.q * e.ids.length : n >= e.q;
          }
          case "int": {
            const off = Number(val(e.off));
            if (off < 0 || off + e.size > buf.length) return 0;
            return e.size === 1 ? view.getUint8(off) : e.size === 2 ? view.getUint16(off, !e.be) : view.getUint32(off, !e.be);
          }
          case "rule": return ruleResults.get(e.name) ?? false;
          case "not": return !truthy(val(e.e));
          case "and": return truthy(val(e.a)) && truthy(val(e.b));
          case "or": return truthy(val(e.a)) || truthy(val(e.b));
          case "cmp": {
            const a = Number(val(e.a));
            const b = Number(val(e.b));
            switch (e.op) {
              case "==": return a === b;
              case "!=": return a !== b;
              case "<": return a < b;
              case "<=": return a <= b;
              case ">": return a > b;
              default: return a >= b;
            }
          }
        }
      };
      const ok = truthy(val(rule.condition));
      ruleResults.set(rule.name, ok);
      if (ok && !rule.private) {
        const strs: YaraMatch["strings"] = [];
        for (const [id, h] of hits) h.offsets.forEach((o, i) => strs.push({ id, offset: o, data: printable(h.data[i]!) }));
        matches.push({ rule: rule.name, tags: rule.tags, meta: rule.meta, strings: strs.slice(0, 32) });
      }
    }
    return matches;
  }
}

/** Whether a match of `s` starts at an offset in [lo, hi]. */
function windowMatch(s: YaraString, text: TextView, lo: number, hi: number, size: number): boolean {
  if (lo >= size || hi < lo) return false;
  for (const f of s.forms) {
    // A match starting in the window may run past it: regexes get a generous tail.
    const tail = f.literal !== undefined ? f.literal.length : 64 * 1024;
    const win = text.latin1Slice(lo, Math.min(size, hi + tail));
    if (f.literal !== undefined) {
      const at = win.indexOf(f.literal);
      if (at >= 0 && at <= hi - lo) return true;
      continue;
    }
    f.re.lastIndex = 0;
    for (let m = f.re.exec(win); m; m = f.re.exec(win)) {
      if (m.index > hi - lo) break;
      return true;
    }
  }
  return false;
}

function truthy(v: number | boolean): boolean {
  return typeof v === "boolean" ? v : v !== 0;
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"));
}
