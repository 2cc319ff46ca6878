import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diffHosts, diffRuns, Ledger, LEDGER_MIGRATIONS } from "./ledger.ts";
import type { ScanHost } from "./xml.ts";

const host = (ip: string, ports: [number, string, string?][]): ScanHost => ({
  ip, addrtype: "ipv4", status: "up", hostnames: [],
  ports: ports.map(([port, service, version]) => ({ proto: "tcp", port, state: "open", service, ...(version ? { version } : {}) })),
});
const view = (l: Ledger, ip: string) => l.hosts("p", { includeClosed: true }).find((h) => h.ip === ip)?.ports.map((p) => [p.port, p.state, p.service, p.version ?? null]);

let dir: string;
let L: Ledger;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "falc-ledger-"));
  L = Ledger.open(dir);
  L.importHosts("p", [host("10.0.0.1", [[22, "ssh", "8.9"], [80, "http"]])], "insert");
});
afterEach(() => {
  L.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("ledger import modes", () => {
  test("insert skips known IPs and adds new ones", () => {
    const s = L.importHosts("p", [host("10.0.0.1", [[443, "https"]]), host("10.0.0.2", [[25, "smtp"]])], "insert");
    expect(s).toMatchObject({ hostsAdded: 1, hostsSkipped: 1, portsAdded: 1 });
    expect(view(L, "10.0.0.1")).toEqual([[22, "open", "ssh", "8.9"], [80, "open", "http", null]]);
    expect(view(L, "10.0.0.2")).toEqual([[25, "open", "smtp", null]]);
  });
  test("append adds new ports to known IPs and leaves known ports alone", () => {
    const s = L.importHosts("p", [host("10.0.0.1", [[22, "ssh", "9.2"], [443, "https"]])], "append");
    expect(s).toMatchObject({ hostsAdded: 0, portsAdded: 1, portsUpdated: 0 });
    expect(view(L, "10.0.0.1")).toEqual([[22, "open", "ssh", "8.9"], [80, "open", "http", null], [443, "open", "https", null]]);
  });
  test("update changes known ports, adds new, keeps unseen, records history", () => {
    const s = L.importHosts("p", [host("10.0.0.1", [[22, "ssh", "9.2"], [443, "https"]])], "update", { runId: "r2" });
    expect(s).toMatchObject({ portsAdded: 1, portsUpdated: 1, portsClosed: 0 });
    expect(view(L, "10.0.0.1")).toEqual([[22, "open", "ssh", "9.2"], [80, "open", "http", null], [443, "open", "https", null]]);
    const h = L.history("p", "10.0.0.1").filter((x) => x.field === "version");
    expect(h).toEqual([expect.objectContaining({ port: 22, old: "8.9", new: "9.2", runId: "r2" })]);
  });
  test("replace closes ports that were scanned but not seen, and only those", () => {
    L.importHosts("p", [host("10.0.0.1", [[8080, "http-proxy"]])], "append");
    const s = L.importHosts("p", [host("10.0.0.1", [[22, "ssh", "8.9"]])], "replace", { scanned: { "10.0.0.1": { tcp: "1-1000" } } });
    expect(s).toMatchObject({ portsClosed: 1, portsUpdated: 0 });
    expect(view(L, "10.0.0.1")).toEqual([[22, "open", "ssh", "8.9"], [80, "closed", "http", null], [8080, "open", "http-proxy", null]]);
    expect(L.hosts("p")[0]!.ports.map((p) => p.port)).toEqual([22, 8080]);
    // Without a scanned set, every unseen port of the IP is closed; a port that comes back reopens with history.
    L.importHosts("p", [host("10.0.0.1", [[80, "http"]])], "replace");
    expect(view(L, "10.0.0.1")).toEqual([[22, "closed", "ssh", "8.9"], [80, "open", "http", null], [8080, "closed", "http-proxy", null]]);
    expect(L.history("p", "10.0.0.1").filter((x) => x.port === 80).map((x) => [x.old, x.new])).toEqual([[null, "open"], ["open", "closed"], ["closed", "open"]]);
  });
  test("bad mode and bad project names are refused", () => {
    expect(() => L.importHosts("p", [], "merge" as never)).toThrow(/import mode must be one of/);
    expect(() => L.importHosts("../x", [], "insert")).toThrow(/project name/);
    expect(() => L.hosts("nope")).toThrow(/no scans yet/);
  });
  test("runs and diff", () => {
    L.startRun({ id: "a", project: "p", profile: "fast", mode: "update", targets: ["10.0.0.1"] });
    L.finishRun("a", "finished", [host("10.0.0.1", [[22, "ssh", "8.9"], [80, "http"]])]);
    L.startRun({ id: "b", project: "p", profile: "fast", mode: "update", targets: ["10.0.0.1"] });
    L.finishRun("b", "finished", [host("10.0.0.1", [[22, "ssh", "9.2"], [443, "https"]])]);
    const [a, b] = L.runs("p");
    const d = diffHosts(a!.hosts, b!.hosts, a!.id, b!.id);
    expect(d.opened.map((e) => e.port)).toEqual([443]);
    expect(d.closed.map((e) => e.port)).toEqual([80]);
    expect(d.changed.map((e) => [e.port, e.before?.version, e.after?.version])).toEqual([[22, "8.9", "9.2"]]);
  });
  test("runs shared by one task per target accumulate hosts; a failed target makes the run partial", () => {
    L.appendToRun({ id: "r", project: "p", profile: "fast", mode: "update", target: "10.0.0.1", status: "finished", hosts: [host("10.0.0.1", [[22, "ssh"]])] });
    L.appendToRun({ id: "r", project: "p", profile: "fast", mode: "update", target: "10.0.0.2", status: "finished", hosts: [host("10.0.0.2", [[80, "http"]])] });
    expect(L.run("r")).toMatchObject({ status: "finished", targets: ["10.0.0.1", "10.0.0.2"] });
    expect(L.run("r").hosts.map((h) => h.ip)).toEqual(["10.0.0.1", "10.0.0.2"]);
    L.appendToRun({ id: "r", project: "p", profile: "fast", mode: "update", target: "10.0.0.3", status: "cancelled", hosts: [] });
    expect(L.run("r").status).toBe("partial");
  });
  test("a sweep's ends go into a run at once: all down keeps it finished, again changes nothing, one timed_out makes it partial", () => {
    const run = { id: "s", project: "p", profile: "fast", mode: "update" as const };
    const down = Array.from({ length: 300 }, (_, i) => ({ target: `10.1.${i >> 8}.${i & 255}`, status: "down", hosts: [] }));
    L.appendManyToRun(run, down);
    L.appendManyToRun(run, down);
    expect(L.run("s")).toMatchObject({ status: "finished", hosts: [] });
    expect(L.run("s").targets).toEqual(down.map((d) => d.target).sort());
    L.appendToRun({ ...run, target: "10.2.0.1", status: "up", hosts: [host("10.2.0.1", [[22, "ssh"]])] });
    expect(L.run("s")).toMatchObject({ status: "finished", hosts: [{ ip: "10.2.0.1" }] });
    L.appendManyToRun(run, [{ target: "10.2.0.2", status: "timed_out", hosts: [] }]);
    expect(L.run("s").status).toBe("partial");
    expect(L.run("s").targets.length).toBe(302);
  });
});

describe("ledger file", () => {
  test("a ledger written before versioning (today's schema, no user_version) opens with its data and is migrated", () => {
    const { Database } = require("bun:sqlite") as typeof import("bun:sqlite");
    const d = mkdtempSync(join(tmpdir(), "falc-ledger-old-"));
    try {
      const path = join(d, "scan", "ledger.sqlite");
      require("node:fs").mkdirSync(join(d, "scan"));
      const old = new Database(path, { create: true });
      old.exec("PRAGMA journal_mode=WAL;");
      old.exec(LEDGER_MIGRATIONS[0]!.up as string);
      old.exec("INSERT INTO projects (name, created_at) VALUES ('p', 1); INSERT INTO hosts (project_id, ip, addrtype, first_seen, last_seen) VALUES (1, '10.0.0.9', 'ipv4', 1, 1);");
      old.exec("INSERT INTO ports (host_id, proto, port, state, service, product, first_seen, last_seen) VALUES (1, 'tcp', 22, 'open', 'ssh', 'OpenSSH', 1, 1);");
      old.close();
      const l = Ledger.open(d);
      try {
        expect(l.db.query("PRAGMA user_version").get()).toEqual({ user_version: LEDGER_MIGRATIONS.length });
        expect(l.hosts("p").map((h) => [h.ip, h.ports.map((p) => [p.port, p.service, p.product])])).toEqual([["10.0.0.9", [[22, "ssh", "OpenSSH"]]]]);
        l.importHosts("p", [host("10.0.0.9", [[22, "ssh", "9.2"]])], "update");
        expect(l.hosts("p")[0]!.ports[0]).toMatchObject({ port: 22, product: "OpenSSH", version: "9.2" });
      } finally {
        l.close();
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  test("a corrupt ledger is refused with a line naming the file (exit 2)", () => {
    const d = mkdtempSync(join(tmpdir(), "falc-ledger-bad-"));
    try {
      require("node:fs").mkdirSync(join(d, "scan"));
      require("node:fs").writeFileSync(join(d, "scan", "ledger.sqlite"), "this is not a database, it is text that is long enough to be read as a header......");
      let err: any;
      try {
        Ledger.open(d).close();
      } catch (e) {
        err = e;
      }
      expect(err?.exitCode).toBe(2);
      expect(err?.message).toContain(join(d, "scan", "ledger.sqlite"));
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("scan diff compares like with like", () => {
  test("the latest finished run and the one before it of the same targets and profile; never a cancelled one", () => {
    const run = (id: string, targets: string[], status: string, hosts: ScanHost[], profile = "fast") => {
      L.startRun({ id, project: "p", profile, mode: "update", targets });
      L.finishRun(id, status, hosts);
    };
    expect("runs" in L.comparableRuns("p")).toBe(false);
    run("a", ["10.0.0.11"], "finished", [host("10.0.0.11", [[22, "ssh"]])]);
    run("b", ["10.0.0.13"], "finished", [host("10.0.0.13", [[80, "http"]])]);
    expect(L.comparableRuns("p")).toEqual({ latest: expect.objectContaining({ id: "b" }) });
    run("c", ["10.0.0.11"], "finished", [host("10.0.0.11", [[22, "ssh"]])], "full");
    run("d", ["10.0.0.11"], "finished", [host("10.0.0.11", [[22, "ssh"], [443, "https"]])]);
    run("e", ["10.0.0.11"], "cancelled", []);
    const c = L.comparableRuns("p");
    expect("runs" in c && c.runs.map((r) => r.id)).toEqual(["a", "d"]);
    const d = diffRuns(...(c as { runs: [any, any] }).runs);
    expect([d.opened.map((x) => x.port), d.closed]).toEqual([[443], []]);
  });

  test("runs of one schedule compare with each other, on the targets both scanned", () => {
    const tick = (id: string, target: string, ports: [number, string][]) =>
      L.appendToRun({ id, project: "p", profile: "fast", mode: "update", target, status: "up", hosts: [host(target, ports)], scheduleId: "s1" });
    tick("s1-1", "10.0.0.1", [[22, "ssh"]]);
    tick("s1-1", "10.0.0.2", [[80, "http"]]);
    // The next tick skipped 10.0.0.2 (still being scanned): its port 80 is not "closed".
    tick("s1-2", "10.0.0.1", [[22, "ssh"]]);
    L.startRun({ id: "other", project: "p", profile: "fast", mode: "update", targets: ["10.0.0.1"] });
    const c = L.comparableRuns("p");
    expect("runs" in c && c.runs.map((r) => r.id)).toEqual(["s1-1", "s1-2"]);
    const d = diffRuns(...(c as { runs: [any, any] }).runs);
    expect([d.opened, d.closed, d.changed]).toEqual([[], [], []]);
  });

  test("unknown run ids and projects are input errors (exit 2)", () => {
    expect(() => L.run("nope")).toThrow(expect.objectContaining({ exitCode: 2 }));
    expect(() => L.comparableRuns("nosuch")).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});
