import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { DEFAULT_PORT, parseHostPort, syncConfigSchema } from "../src/sync/config.ts";
import { DEFAULT_LIMITS } from "../src/sync/session.ts";

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
