import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILTIN_PROFILES, discoveryArgv, formatPorts, loadProfile, parsePorts, serviceArgv, validateProfile } from "./profile.ts";

describe("profiles", () => {
  test("built-ins load and build argv arrays", () => {
    expect(BUILTIN_PROFILES).toEqual(["default", "fast", "full", "web", "udp"]);
    for (const n of BUILTIN_PROFILES) expect(loadProfile(n).name).toBe(n);
    const p = loadProfile("full");
    const a = discoveryArgv(p, "10.0.0.1", 4, "/tmp/x.xml");
    expect(a).toContain("-p");
    expect(a[a.indexOf("-p") + 1]).toBe("1-65535");
    expect(a.slice(-2)).toEqual(["--", "10.0.0.1"]);
    const s = serviceArgv(p, "10.0.0.1", 4, "/tmp/y.xml", { tcp: [22, 80, 81, 82], udp: [53] });
    expect(s).toContain("-sV");
    expect(s[s.indexOf("-p") + 1]).toBe("T:22,80-82,U:53");
    const u = discoveryArgv(loadProfile("udp"), "::1", 6, "/tmp/z.xml");
    expect(u).toContain("-sU");
    expect(u).toContain("-6");
    expect(u).not.toContain("-sS");
  });
  test("raw nmap flags and bad values are refused by field name", () => {
    expect(() => validateProfile({ script: "vuln" }, "x", "x.yaml")).toThrow(/unknown field `script`.*raw nmap options/);
    expect(() => validateProfile({ service: { scripts: "all" } }, "x", "x.yaml")).toThrow(/`service.scripts`/);
    expect(() => validateProfile({ ports: "22;id" }, "x", "x.yaml")).toThrow(/field `ports`/);
    expect(() => validateProfile({ ports: "0-10" }, "x", "x.yaml")).toThrow(/field `ports`/);
    expect(() => validateProfile({ min_rate: 0 }, "x", "x.yaml")).toThrow(/field `min_rate`/);
    expect(() => validateProfile({ min_rate: 100, max_rate: 10 }, "x", "x.yaml")).toThrow(/must not exceed max_rate/);
    expect(() => validateProfile({ ports: "22", top_ports: 10 }, "x", "x.yaml")).toThrow(/not both/);
    expect(() => validateProfile({ service: { version_intensity: 10 } }, "x", "x.yaml")).toThrow(/version_intensity/);
    expect(() => loadProfile("nope")).toThrow(/unknown profile `nope`/);
  });
  test("YAML profile files", () => {
    const d = mkdtempSync(join(tmpdir(), "falc-prof-"));
    try {
      writeFileSync(join(d, "mine.yaml"), "ports: 22,80\nmin_rate: 300\nservice:\n  version_intensity: 3\n");
      const p = loadProfile(join(d, "mine.yaml"));
      expect(p.name).toBe("mine");
      expect(p.ports).toBe("22,80");
      writeFileSync(join(d, "bad.yaml"), "extra_args: -oN /tmp/x\n");
      expect(() => loadProfile(join(d, "bad.yaml"))).toThrow(/unknown field `extra_args`/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
  test("port lists", () => {
    expect(parsePorts("80,22,8000-8002")).toEqual([22, 80, 8000, 8001, 8002]);
    expect(parsePorts("70000")).toBeNull();
    expect(formatPorts([1, 2, 3, 5])).toBe("1-3,5");
  });
});
