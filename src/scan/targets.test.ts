import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileScope, expandTargets, parseSpec, readTargetsFile } from "./targets.ts";
import { FalcError } from "../core/errors.ts";

const fakeDns = async (h: string) => {
  if (h === "web.lab") return ["10.0.0.5"];
  if (h === "dual.lab") return ["10.0.0.5", "10.0.0.6"];
  throw Object.assign(new Error("nx"), { code: "ENOTFOUND" });
};

describe("targets", () => {
  test("addresses, CIDR, ranges, IPv6", async () => {
    const r = await expandTargets(["10.0.0.0/30", "10.0.1.1-3", "10.0.2.1-10.0.2.2", "::1", "2001:db8::/126"], { maxTargets: 100 });
    expect(r.targets.map((t) => t.ip)).toEqual([
      "10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.2.1", "10.0.2.2", "::1",
      "2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3",
    ]);
    expect(r.refused).toEqual([]);
  });
  test("hostnames resolve, collapse onto IPs and keep their names; refusals carry reasons", async () => {
    const r = await expandTargets(["10.0.0.5", "web.lab", "dual.lab", "nope.lab", "10.0.0.6", "9.9.9.9"], {
      maxTargets: 100,
      resolve: fakeDns,
      scope: compileScope({ allow: ["10.0.0.0/24"], deny: ["10.0.0.6"] }),
    });
    expect(r.targets).toEqual([{ ip: "10.0.0.5", family: 4, hostnames: ["web.lab", "dual.lab"], input: "10.0.0.5" }]);
    expect(r.refused.map((x) => [x.input, x.reason])).toEqual([
      ["dual.lab", "out_of_scope"],
      ["nope.lab", "unresolvable"],
      ["10.0.0.6", "out_of_scope"],
      ["9.9.9.9", "out_of_scope"],
    ]);
    const d = await expandTargets(["10.0.0.1", "10.0.0.0/31"], { maxTargets: 10, inLedger: (ip) => ip === "10.0.0.0" });
    expect(d.refused.map((x) => [x.ip, x.reason])).toEqual([["10.0.0.0", "already_in_ledger"], ["10.0.0.1", "duplicate"]]);
  });
  test("injection attempts and huge ranges are refused with clear messages", async () => {
    const bad: [string, RegExp][] = [
      ["--script=vuln", /begins with `-`/],
      ["-iL", /begins with `-`/],
      ["-oN", /begins with `-`/],
      ["10.0.0.1;rm", /character not allowed/],
      ["10.0.0.1 -oN x", /whitespace/],
      ["$(id)", /character not allowed/],
      ["10.0.0.0/33", /not a valid CIDR/],
      ["10.0.0.9-3", /before its start/],
      ["_bad_", /not an address/],
    ];
    for (const [s, re] of bad) {
      const e = (() => { try { parseSpec(s); } catch (e) { return e; } })() as FalcError;
      expect(e).toBeInstanceOf(FalcError);
      expect(e.exitCode).toBe(2);
      expect(e.message).toMatch(re);
    }
    await expect(expandTargets(["10.0.0.0/8"], { maxTargets: 4096 })).rejects.toThrow(/16777216 addresses, over the limit of 4096/);
    await expect(expandTargets(["10.0.0.0/21", "10.1.0.0/21", "10.2.0.1"], { maxTargets: 4096 })).rejects.toThrow(/4097 addresses/);
  });
  test("targets file like -iL; unreadable or non-target content is refused without echoing it", () => {
    const d = mkdtempSync(join(tmpdir(), "falc-tgt-"));
    try {
      writeFileSync(join(d, "t.txt"), "# lab\n10.0.0.1 10.0.0.2\n\nweb.lab # web\n");
      expect(readTargetsFile(join(d, "t.txt"))).toEqual(["10.0.0.1", "10.0.0.2", "web.lab"]);
      writeFileSync(join(d, "shadow"), "root:$6$secret:19000:0:99999:7:::\n");
      expect(() => readTargetsFile(join(d, "shadow"))).toThrow(/line 1: not a target/);
      try { readTargetsFile(join(d, "shadow")); } catch (e) { expect((e as Error).message).not.toContain("secret"); }
      expect(() => readTargetsFile(d)).toThrow(/not a regular file/);
      expect(() => readTargetsFile(join(d, "missing"))).toThrow(/ENOENT/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
