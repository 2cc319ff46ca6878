import { describe, expect, test } from "bun:test";
import { BUILTIN_RULES } from "./yara-builtin.ts";
import { YaraError, YaraRules, parseRules } from "./yara.ts";

const enc = (t: string) => new TextEncoder().encode(t);
const names = (rules: string, data: Uint8Array | string) => YaraRules.fromSources([{ text: rules }]).scan(typeof data === "string" ? enc(data) : data).map((m) => m.rule);

describe("YARA subset", () => {
  test("text strings with nocase, wide, ascii, fullword and escapes", () => {
    const rules = `
      rule plain { strings: $a = "Evil" condition: $a }
      rule nocase { strings: $a = "evil" nocase condition: $a }
      rule wide_only { strings: $a = "evil" wide condition: $a }
      rule both { strings: $a = "evil" wide ascii condition: $a }
      rule word { strings: $a = "cmd" fullword condition: $a }
      rule esc { strings: $a = "a\\x41\\tb\\"q" condition: $a }`;
    expect(names(rules, "xx Evil xx")).toEqual(["plain", "nocase"]);
    expect(names(rules, "xx evil xx")).toEqual(["nocase", "both"]);
    expect(names(rules, "xx EVIL xx")).toEqual(["nocase"]);
    expect(names(rules, Buffer.from("..evil..", "utf16le"))).toEqual(["wide_only", "both"]);
    expect(names(rules, "run cmd.exe")).toEqual(["word"]);
    expect(names(rules, "runcmdexe")).toEqual([]);
    expect(names(rules, 'aA\tb"q')).toEqual(["esc"]);
  });

  test("hex strings: wildcards, nibbles, jumps, alternatives", () => {
    const rules = `
      rule mz { strings: $h = { 4D 5A ?? 00 [1-3] ( 03 | 04 ) 0? } condition: $h at 0 }`;
    expect(names(rules, Uint8Array.from([0x4d, 0x5a, 0x90, 0x00, 0xaa, 0xbb, 0x04, 0x0f]))).toEqual(["mz"]);
    expect(names(rules, Uint8Array.from([0x4d, 0x5a, 0x90, 0x00, 0xaa, 0xbb, 0x05, 0x0f]))).toEqual([]);
    expect(names(rules, Uint8Array.from([0x00, 0x4d, 0x5a, 0x90, 0x00, 0xaa, 0x04, 0x0f]))).toEqual([]);
    expect(names(rules, Uint8Array.from([0x4d, 0x5a, 0x90, 0x00, 0x01, 0x02, 0x05, 0x06, 0x07, 0x03, 0x0f]))).toEqual([]);
  });

  test("regex strings and conditions: counts, of, filesize, uint16, at/in, not, rule references", () => {
    const rules = `
      private rule has_mz { condition: uint16(0) == 0x5A4D }
      rule re { strings: $r = /https?:\\/\\/[a-z]+\\.example/ nocase condition: #r >= 2 }
      rule two_of { strings: $a = "one" $b = "two" $c = "three" condition: 2 of them and not $c }
      rule set_of { strings: $x1 = "x1" $x2 = "x2" $y = "y" condition: all of ($x*) }
      rule small { condition: filesize < 1KB and has_mz }
      rule inrange { strings: $a = "key" condition: $a in (0..4) }
      rule pct { strings: $a = "p" $b = "q" $c = "r" $d = "s" condition: 50% of them }`;
    expect(names(rules, "HTTP://A.EXAMPLE and http://b.example")).toEqual(["re"]);
    expect(names(rules, "one two")).toEqual(["two_of"]);
    expect(names(rules, "one two three")).toEqual([]);
    expect(names(rules, "x1 x2")).toEqual(["set_of"]);
    expect(names(rules, "MZ tiny")).toEqual(["small"]);
    expect(names(rules, new Uint8Array(2048).fill(0x4d))).toEqual([]);
    expect(names(rules, "  key")).toEqual(["inrange"]);
    expect(names(rules, "      key")).toEqual([]);
    expect(names(rules, "p q")).toEqual(["pct"]);
  });

  test("matches report strings with offsets, tags and meta", () => {
    const r = YaraRules.fromSources([{ text: `rule t : a b { meta: score = 6 family = "F" ok = true strings: $s = "needle" condition: $s }` }]);
    const [m] = r.scan(enc("hay needle hay needle"));
    expect(m).toEqual({ rule: "t", tags: ["a", "b"], meta: { score: 6, family: "F", ok: true }, strings: [{ id: "$s", offset: 4, data: "needle" }, { id: "$s", offset: 15, data: "needle" }] });
  });

  test("unsupported and broken rules fail at load with file and line", () => {
    const err = (src: string) => {
      try {
        parseRules(src, "x.yar");
      } catch (e) {
        expect(e).toBeInstanceOf(YaraError);
        return (e as Error).message;
      }
      return "";
    };
    expect(err('import "pe"\nrule x { condition: pe.is_dll() }')).toContain("not supported");
    expect(err("rule x {\n strings: $a = \"x\"\n condition: $b }")).toBe("x.yar:3: undefined string $b");
    expect(err('rule x { strings: $a = "x" xor condition: $a }')).toContain("xor");
    expect(err("rule x { condition: }")).toContain("x.yar");
    expect(err('rule x { strings: $a = "unterminated\n condition: $a }')).toContain("unterminated string");
    expect(err("rule a { condition: true }\nrule a { condition: false }")).toContain("duplicate rule a");
    expect(() => YaraRules.fromSources([{ text: "rule a { condition: missing_rule }" }])).toThrow("unknown identifier missing_rule");
  });

  test("built-in rules: EICAR is a known family, shadow copy deletion, UPX", () => {
    const rules = YaraRules.fromSources([{ text: BUILTIN_RULES, file: "builtin" }]);
    const eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    const [m] = rules.scan(enc(eicar));
    expect(m).toMatchObject({ rule: "EICAR_Test_File", meta: { family: "EICAR-Test-File", score: 10 } });
    expect(rules.scan(enc("cmd /c vssadmin.exe Delete Shadows /All /Quiet")).map((x) => x.rule)).toEqual(["Shadow_Copy_Deletion"]);
    expect(rules.scan(enc("UPX0\0\0UPX1\0UPX!")).map((x) => x.rule)).toEqual(["UPX_Packed"]);
    expect(rules.scan(enc("nothing to see"))).toEqual([]);
  });
});

describe("YARA atom prefilter", () => {
  test("overlapping and prefix atoms are not lost by the one-pass scan", () => {
    const rules = `
      rule a { strings: $s = "upx" condition: $s }
      rule b { strings: $s = "UPX!" condition: $s }
      rule c { strings: $s = "abcd" condition: $s }
      rule d { strings: $s = "cdef" condition: $s }
      rule e { strings: $r = /defgh+i/ condition: $r }`;
    expect(names(rules, "xx UPX! abcdefghhi")).toEqual(["b", "c", "d", "e"]);
    expect(names(rules, "xx upx!")).toEqual(["a"]);
    expect(names(rules, "UPX!upx")).toEqual(["a", "b"]);
  });
});
