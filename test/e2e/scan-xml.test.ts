import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FALC, tempHome } from "./helpers.ts";
import { describeUnless, isRoot } from "../skip.ts";
import { createLab, type Lab } from "../scan/lab.ts";

/**
 * nmap XML in and out, against nmap's own tools: XML that nmap really produced over a namespace
 * lab goes through `falc scan import` and comes back from `falc scan results --format xml`; ndiff
 * sees no difference and xmllint validates it against nmap.dtd.
 */
let lab: Lab;
let H: { home: string; cleanup(): void };

async function inLab(argv: string[]) {
  const p = Bun.spawn([...lab.exec, ...argv], { env: { ...process.env, NO_COLOR: "1", FALC_HOME: H.home, FALC_LOG_LEVEL: "silent" }, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 180_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}
const falc = (args: string[]) => inLab([FALC, ...args]);
const dtdValid = (file: string) => Bun.spawnSync(["xmllint", "--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd", file], { stderr: "pipe" });

describeUnless(isRoot, "not root")("nmap XML round trip through the ledger", () => {
  beforeAll(async () => {
    H = tempHome("falc-e2e-xml-");
    lab = await createLab({ id: `${process.pid % 10000}x`, third: 150 + (process.pid % 50), hosts: [
      { octet: 41, listeners: [{ kind: "http", port: 80 }, { kind: "ssh", port: 22 }] },
      { octet: 42, listeners: [{ kind: "redis", port: 6379 }, { kind: "http", port: 8080, banner: "Apache/2.4.57" }], filtered: [443, 8443] },
      { octet: 43, listeners: [] },
    ] });
  }, 60_000);
  afterAll(() => {
    lab?.destroy();
    H?.cleanup();
  });

  test("nmap -sV -O --script XML -> import -> results --format xml: ndiff sees no difference; the output is valid nmap XML", async () => {
    const s = lab.subnet.replace(/\.0\/24$/, "");
    const a = join(H.home, "a.xml"), b = join(H.home, "b.xml");
    // At most one script per port (ndiff 7.93 fails on a port with two under Python 3.11): redis-info on redis, and -sV adds http-server-header on HTTP.
    const n = await inLab(["nmap", "-n", "-sS", "-sV", "-O", "--max-os-tries", "1", "--script", "redis-info", "--script-timeout", "20s", "-p", "1-1024,2222,6379,8080,8443", "--max-retries", "2", "-oX", a, "--", `${s}.41`, `${s}.42`, `${s}.43`]);
    expect(n.code).toBe(0);
    const imp = await falc(["scan", "import", a, "--project", "rt", "--mode", "replace"]);
    expect({ code: imp.code, stderr: imp.stderr }).toEqual({ code: 0, stderr: "" });
    const out = await falc(["scan", "results", "--project", "rt", "--format", "xml"]);
    expect(out.code).toBe(0);
    writeFileSync(b, out.stdout);
    const v = dtdValid(b);
    expect(v.stderr.toString()).toBe("");
    expect(v.exitCode).toBe(0);
    const d = Bun.spawnSync(["ndiff", a, b], { stdout: "pipe" });
    const text = d.stdout.toString();
    // ndiff's header lines may differ only in nothing: same args, same times; then no host lines.
    expect(text.split("\n").filter((l) => /^[-+]/.test(l))).toEqual([]);
    expect(d.exitCode).toBe(0);
    // What nmap wrote is kept: method/conf, MAC, extraports, the up host without open ports, times, scaninfo.
    const bx = readFileSync(b, "utf8"), ax = readFileSync(a, "utf8");
    expect(bx).toContain(ax.match(/<scaninfo [^>]*\/>/)![0]);
    expect(bx).toMatch(/method="probed" conf="10"/);
    expect(ax).toMatch(/<script id="redis-info"/);
    expect(bx).toContain(ax.match(/<script id="redis-info" output="[^"]*"/)![0]);
    expect(bx).toMatch(/<osmatch /);
    expect(bx).toMatch(/addrtype="mac"/);
    expect(bx).toContain(`<address addr="${s}.43" addrtype="ipv4"/>`);
    expect(bx).toContain(`start="${ax.match(/ start="(\d+)"/)![1]}"`);
  }, 240_000);

  test("malformed or truncated XML is refused with one line, nothing half-imported; replace uses the file's scaninfo", async () => {
    const s = lab.subnet.replace(/\.0\/24$/, "");
    const a = join(H.home, "a.xml");
    const full = readFileSync(a, "utf8");
    const cut = join(H.home, "cut.xml");
    writeFileSync(cut, full.slice(0, full.lastIndexOf("</host>") + 7));
    const r = await falc(["scan", "import", cut, "--project", "half"]);
    expect(r.stderr).toContain(`${cut}: truncated`);
    // A good file beside a bad one: neither is imported.
    const both = await falc(["scan", "import", a, cut, "--project", "half"]);
    expect(both.code).toBe(2);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`${cut}: truncated`);
    expect((await falc(["scan", "results", "--project", "half"])).code).toBe(2);

    // A later scan of ports 22 and 80 of .41 only.
    const c = join(H.home, "c.xml");
    expect((await inLab(["nmap", "-n", "-sS", "-p", "22,80", "-oX", c, "--", `${s}.41`])).code).toBe(0);
    // Make port 80 look gone in the file (as if its service had stopped): replace closes 80 only.
    writeFileSync(c, readFileSync(c, "utf8").replace(/<port protocol="tcp" portid="80">.*?<\/port>/s, ""));
    const imp = await falc(["scan", "import", c, "--project", "rt", "--mode", "replace", "--json"]);
    expect(JSON.parse(imp.stdout).stats).toMatchObject({ portsClosed: 1 });
    const res = JSON.parse((await falc(["scan", "results", "--project", "rt", "--json"])).stdout);
    expect(res.find((h: any) => h.ip === `${s}.41`).ports.map((p: any) => p.port)).toEqual([22]);
    expect(res.find((h: any) => h.ip === `${s}.42`).ports.map((p: any) => p.port)).toEqual([6379, 8080]);
  }, 120_000);

  test("falc's own scan exports valid nmap XML (--format xml and results)", async () => {
    const s = lab.subnet.replace(/\.0\/24$/, "");
    const r = await falc(["scan", `${s}.41`, `${s}.43`, "--profile", "fast", "--project", "own", "--format", "xml"]);
    expect(r.code).toBe(0);
    const f = join(H.home, "own.xml");
    writeFileSync(f, r.stdout);
    expect(dtdValid(f).exitCode).toBe(0);
    const res = await falc(["scan", "results", "--project", "own", "--format", "xml"]);
    writeFileSync(f, res.stdout);
    expect(dtdValid(f).exitCode).toBe(0);
    expect(res.stdout).toContain(`<address addr="${s}.43" addrtype="ipv4"/>`);
  }, 120_000);
});
