import { afterEach, expect, setSystemTime, test } from "bun:test";
import { createConnection, createServer, type Socket } from "node:net";
import { Admission } from "../src/sync/admission.ts";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_PORT, parseHostPort, syncConfigSchema } from "../src/sync/config.ts";
import { DEFAULT_LIMITS } from "../src/sync/session.ts";
import { collectRecord, INFO_CHUNK, sendInfo } from "../src/sync/worker-info.ts";
import { Ledger } from "../src/scan/ledger.ts";

// The numbers the README's `falc sync` section promises (defaults in brackets, caps, the config keys it
// lists) read from the README itself and compared with the code's: change either and this fails.
const readme = readFileSync(resolve(import.meta.dir, "../README.md"), "utf8");
const section = readme.slice(readme.indexOf("## falc sync"), readme.indexOf("## falc scan"));
const defaults = syncConfigSchema.parse({}) as Record<string, unknown>;

test("every default the README gives in brackets, `key` (N), is the config's default", () => {
  const said = new Map<string, string>();
  for (const m of section.matchAll(/`([a-z_]+)` \(`?([\w.]+)`?(?: s)?\)/g)) {
    // `connect_failed` (warn): a log event and its level, not a setting.
    if (!["trace", "debug", "info", "warn", "error"].includes(m[2]!)) said.set(m[1]!, m[2]!);
  }
  // The ones the README names today; a new one is checked as soon as it is written the same way.
  for (const k of ["preauth_s", "max_handshakes", "max_handshakes_per_address", "keepalive_s", "drop_after_s", "reconnect_max_s", "interval_s", "compress", "mismatch_limit", "cluster"]) {
    expect(said.has(k), `README gives a default for ${k}`).toBe(true);
  }
  for (const [k, v] of said) {
    expect(k in defaults, `${k} is a sync config key`).toBe(true);
    expect([k, String(defaults[k])]).toEqual([k, v]);
  }
});

test("the README's list of `sync:` keys is exactly the config's", () => {
  const line = /\*\*Config\*\* \(`sync:`\):([\s\S]*?)\n- \*\*/.exec(section)?.[1];
  expect(line).toBeDefined();
  const listed = [...line!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
  listed.push(...[...line!.matchAll(/`([a-z_]+): \{/g)].map((m) => m[1]!));
  expect(new Set(listed)).toEqual(new Set(Object.keys(syncConfigSchema.shape)));
});

test("frame and message caps as the README states them; a master address without a port is the listen example's", () => {
  expect(section).toContain("payloads over 1 MiB divided into frames");
  expect(DEFAULT_LIMITS.chunk).toBe(1 << 20);
  expect(defaults.chunk_kb).toBe(1024);
  expect(section).toContain("message size (256 MiB), 8 divided messages at once");
  expect(DEFAULT_LIMITS.maxMessage).toBe(256 << 20);
  expect(DEFAULT_LIMITS.maxSplit).toBe(8);
  expect(section).toContain("16 KiB frames and `preauth_s` (5 s) before the handshake");
  expect(DEFAULT_LIMITS.preAuthMaxFrame).toBe(16 * 1024);
  expect(section).toContain("--listen 0.0.0.0:1516");
  expect(section).toMatch(/--master 10\.0\.0\.1 --dir/);
  expect(parseHostPort("10.0.0.1", "--master")).toEqual({ host: "10.0.0.1", port: 1516 });
  expect(DEFAULT_PORT).toBe(1516);
});

afterEach(() => setSystemTime());

test("hostile connections: 64 at once, 8 per address, the greediest address's oldest cut; cuts reported at most every 10 s", async () => {
  expect(section).toContain("at most `max_handshakes` (64) unauthenticated connections at once, and\n  `max_handshakes_per_address` (8) from one source address");
  expect(section).toContain("(`handshakes_evicted`, at most every 10 s)");
  let now = Date.UTC(2026, 11, 8);
  setSystemTime(now);
  const reports: number[] = [];
  const a = new Admission(defaults.max_handshakes as number, defaults.max_handshakes_per_address as number, (n) => reports.push(n));
  // Real loopback connections from several source addresses (127.0.0.0/8 is all loopback), admitted as the master does.
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    accepted.push(s);
    a.admit(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const clients: Socket[] = [];
  const connect = async (from: string) => {
    const n = accepted.length;
    const c = createConnection({ host: "127.0.0.1", port, localAddress: from });
    c.on("error", () => {});
    clients.push(c);
    while (accepted.length === n) await new Promise((r) => setTimeout(r, 1));
    return accepted[n]!;
  };
  try {
    // One address floods: it only ever cuts its own oldest, 8 stay.
    const flood: Socket[] = [];
    for (let i = 0; i < 20; i++) flood.push(await connect("127.0.0.9"));
    expect(flood.map((s) => s.destroyed)).toEqual([...Array(12).fill(true), ...Array(8).fill(false)]);
    // 100 more from 12 other addresses: never above 64 at once, never above 8 from one.
    for (let i = 0; i < 100; i++) await connect(`127.0.1.${(i % 12) + 1}`);
    const alive = accepted.filter((s) => !s.destroyed);
    expect(alive.length).toBe(64);
    expect(a.pending).toBe(64);
    const per = new Map<string, number>();
    for (const s of alive) per.set(s.remoteAddress!, (per.get(s.remoteAddress!) ?? 0) + 1);
    expect(Math.max(...per.values())).toBeLessThanOrEqual(8);
    // A worker arriving now always gets its slot.
    expect((await connect("127.0.2.1")).destroyed).toBe(false);
    // All those cuts within one moment: one report; the next only 10 s after it, with the count since.
    expect(reports).toEqual([1]);
    setSystemTime((now += 9_999));
    await connect("127.0.0.9");
    expect(reports).toEqual([1]);
    setSystemTime((now += 1));
    await connect("127.0.0.9");
    expect(reports).toEqual([1, accepted.filter((s) => s.destroyed).length - 1]);
  } finally {
    clients.forEach((c) => c.destroy());
    server.close();
  }
});

test("worker info goes up 500 rows per request", async () => {
  expect(section).toContain("500 rows per request");
  expect(INFO_CHUNK).toBe(500);
  const home = mkdtempSync(join(tmpdir(), "falc-readme-info-"));
  try {
    const ledger = Ledger.open(home);
    const ports = Array.from({ length: 1234 }, (_, i) => i + 1);
    ledger.importHosts("p", [{ status: "up", ip: "10.0.0.1", addrtype: "ipv4", hostnames: [], ports: ports.map((port) => ({ proto: "tcp", port, state: "open", service: "x", product: "x" })) }] as never, "update");
    const sizes: number[] = [];
    const r = await sendInfo(async (m) => void sizes.push(m.rows.length), await collectRecord({ stages: ["scan"], counts: { scan: 1 } }), ledger);
    expect(sizes).toEqual([500, 500, 234]);
    expect(r.rows).toBe(1234);
    ledger.close?.();
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
