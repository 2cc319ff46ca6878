import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { commands } from "../../commands/index.ts";
import { isRoot, skipUnless } from "../skip.ts";
import { FALC, runFalc, tempHome } from "./helpers.ts";

const h = tempHome();
afterAll(() => h.cleanup());
const env = { FALC_HOME: h.home };

describe("falc binary", () => {
  test("--version and --help", async () => {
    const v = await runFalc(["--version"], { env });
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const help = await runFalc(["--help"], { env });
    expect(help.code).toBe(0);
    for (const c of ["process", "scan", "sync master", "eval", "worker", "ui", "tasks submit"]) expect(help.stdout).toContain(`falc ${c}`);
    expect(help.stdout).not.toContain("\x1b[");
  });

  test("every command's --help has examples", async () => {
    for (const c of [["process"], ["scan"], ["sync", "master"], ["sync", "worker"], ["sync", "status"], ["eval"], ["eval", "serve"], ["worker"], ["ui"], ["tasks", "submit"], ["tasks", "list"]]) {
      const r = await runFalc([...c, "--help"], { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Examples");
    }
  });

  test("`falc <family> --help` lists every command of the family on one line with its description, exit 0", async () => {
    // Families from the registered commands themselves, so a new family is covered without editing this test.
    const families = [...new Set(commands.flatMap((c) => (c.paths ?? []).map((p) => p[0]!)))];
    expect(families).toEqual(expect.arrayContaining(["process", "scan", "sync", "eval", "worker", "ui", "tasks"]));
    const nested = [...new Set(commands.flatMap((c) => (c.paths ?? []).filter((p) => p.length > 2).map((p) => p.slice(0, -1).join(" "))))];
    for (const family of [...families, ...nested]) {
      for (const flag of ["--help", "-h"]) {
        const r = await runFalc([...family.split(" "), flag], { env });
        expect(r.code, `falc ${family} ${flag}: ${r.stderr}`).toBe(0);
        expect(r.stdout).not.toContain("\x1b[");
        const lines = r.stdout.split("\n");
        const members = commands.filter((c) => (c.paths ?? []).some((p) => p.join(" ").startsWith(family) && (p.join(" ") === family || p.join(" ")[family.length] === " ")));
        expect(members.length).toBeGreaterThan(0);
        for (const c of members) {
          const path = `falc ${c.paths![0]!.join(" ")}`;
          const line = lines.find((l) => l.trimStart().startsWith(`${path}  `) || l.trim() === path);
          expect(line, `falc ${family} ${flag} lists ${path}`).toBeDefined();
          expect(line).toContain(c.usage!.description!);
        }
      }
    }
  });

  test("unknown command and bad option are usage errors (exit 2)", async () => {
    expect((await runFalc(["bogus"], { env })).code).toBe(2);
    expect((await runFalc(["tasks", "list", "--no-such-flag"], { env })).code).toBe(2);
  });

  test("tasks: submit, list, show, cancel, retry round-trip with JSON", async () => {
    const sub = await runFalc(["tasks", "submit", "noop", "--payload", '{"n":1}', "--json"], { env });
    expect(sub.code).toBe(0);
    const t = JSON.parse(sub.stdout);
    expect(t.status).toBe("queued");
    const list = JSON.parse((await runFalc(["tasks", "list", "--json"], { env })).stdout);
    expect(list.map((x: { id: string }) => x.id)).toContain(t.id);
    const show = await runFalc(["tasks", "show", t.id, "--json"], { env });
    expect(JSON.parse(show.stdout).payload).toEqual({ n: 1 });
    expect((await runFalc(["tasks", "cancel", t.id], { env })).code).toBe(0);
    const again = await runFalc(["tasks", "cancel", t.id], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^falc: task .* already cancelled/);
    expect((await runFalc(["tasks", "retry", t.id], { env })).code).toBe(0);
    expect(JSON.parse((await runFalc(["tasks", "show", t.id, "--json"], { env })).stdout).status).toBe("queued");
  });

  test("bad input gives one clear line, never a stack trace", async () => {
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [["tasks", "submit", "nosuchstage", "--payload", "{}"], /unknown stage `nosuchstage`/],
      [["tasks", "submit", "noop", "--payload", "{not json"], /payload from --payload is not valid JSON/],
      [["tasks", "submit", "noop", "--payload", "@/nonexistent/file.json"], /cannot read payload file/],
      [["tasks", "show", "nope"], /no task with id nope/],
      [["tasks", "list", "--status", "weird"], /unknown status `weird`/],
      [["tasks", "list", "--limit", "abc"], /--limit must be a whole number/],
      [["tasks", "list", "--queue", "postgres://x"], /unknown queue/],
    ];
    for (const [args, re] of cases) {
      const r = await runFalc(args, { env });
      expect(r.code, args.join(" ")).not.toBe(0);
      expect(r.stderr.trim().split("\n").length, r.stderr).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\s+at .*:\d+:\d+/);
    }
  });

  skipUnless(isRoot, "not root")("a key written where its directory cannot be flushed: exit 1 and the line says it may not survive a crash", async () => {
    // User nobody may write into a mode-733 directory but not open it to fsync it.
    chmodSync(h.home, 0o711);
    const box = join(h.home, "dropbox");
    mkdirSync(box);
    chmodSync(box, 0o733);
    const out = join(box, "cluster.key");
    const p = Bun.spawn(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", FALC, "sync", "keygen", "--out", out], { env: { ...process.env, ...env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe(`falc: wrote the key to ${out} but could not flush its directory (EACCES: permission denied, open '${box}'): a crash may lose it; write it where you can read the directory\n`);
    expect(readFileSync(out, "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  test("malformed config names the file and the key", async () => {
    const bad = join(h.home, "bad.yaml");
    writeFileSync(bad, "health_port: lots\n");
    const r = await runFalc(["tasks", "list", "--config", bad], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(bad);
    expect(r.stderr).toContain("`health_port`");
    writeFileSync(bad, "queue: [unclosed\n");
    const y = await runFalc(["tasks", "list", "--config", bad], { env });
    expect(y.code).toBe(2);
    expect(y.stderr).toMatch(/invalid YAML/);
    writeFileSync(bad, "qeueu: sqlite\n");
    const k = await runFalc(["tasks", "list"], { env: { ...env, FALC_CONFIG: bad } });
    expect(k.code).toBe(2);
    expect(k.stderr).toMatch(/unknown key `qeueu`/);
  });
});
