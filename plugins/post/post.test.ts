import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CaptureResult, sharedCapture } from "../../test/process/netsample.ts";
import { isRoot, skipUnless } from "../../test/skip.ts";
import { sampleDir } from "../../test/process/samples.ts";
import type { Processor } from "../../src/process/plugin.ts";
import { type TestContext, loadProcessors, makeContext, runProcessor } from "../../test/process/plugins-testkit.ts";
import behaviourFactory from "./behaviour.ts";
import networkFactory from "./network.ts";
import signaturesFactory from "./signatures.ts";


let cap: CaptureResult | undefined;
let root: string;
beforeAll(async () => {
  root = join(sampleDir(), "post");
  mkdirSync(root, { recursive: true });
  if (isRoot) cap = await sharedCapture();
}, 60000);

const contexts: TestContext[] = [];
afterEach(() => contexts.splice(0).forEach((c) => c.dispose()));

async function post(taskDir: string | undefined, config: Record<string, Record<string, unknown>> = {}) {
  const plugins: Processor[] = [];
  for (const f of [behaviourFactory, networkFactory, signaturesFactory]) plugins.push(...(await loadProcessors(f)));
  plugins.sort((a, b) => a.ORDER - b.ORDER);
  const ctx = makeContext({ stage: "post", taskDir });
  contexts.push(ctx);
  for (const p of plugins) {
    ctx.config = config[p.NAME] ?? {};
    ctx.state = {};
    await runProcessor(p, ctx);
  }
  return ctx;
}

function task(name: string, events?: string[], pcap?: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  if (events) {
    mkdirSync(join(dir, "events"), { recursive: true });
    writeFileSync(join(dir, "events", "monitor.json"), events.join("\n") + "\n");
  }
  if (pcap) copyFileSync(pcap, join(dir, "dump.pcap"));
  return dir;
}

const ev = (o: Record<string, unknown>) => JSON.stringify(o);

describe("post plugins", () => {
  // tcpdump on lo needs root: the one reason to skip (test/skip.ts).
  skipUnless(isRoot, "not root")("behaviour events and a real capture: summaries, signatures, bad lines as non-fatal errors", async () => {
    const events = [
      ev({ ts: 1, type: "process", action: "create", pid: 10, ppid: 1, image: "C:\\Program Files\\Microsoft Office\\EXCEL.EXE" }),
      ev({ ts: 2, type: "process", action: "create", pid: 11, ppid: 10, image: "C:\\Windows\\System32\\cmd.exe", cmdline: "cmd /c start evil.exe" }),
      ev({ ts: 3, type: "file", action: "write", pid: 11, path: "C:\\Users\\a\\evil.exe" }),
      ev({ ts: 4, type: "registry", action: "set", pid: 11, key: "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\RunOnce", value: "e", data: "C:\\Users\\a\\evil.exe" }),
      ev({ ts: 5, type: "network", action: "connect", pid: 11, dst: "198.51.100.77", port: 8443, proto: "tcp" }),
      "garbage line",
      ev({ ts: 6, type: "file", action: "write", pid: 11 }),
    ];
    const dir = task("full", events, cap?.pcap);
    const ctx = await post(dir, { network: { dns_ports: cap ? [cap.ports.dns] : [53] } });
    const b = ctx.results.behaviour as any;
    expect(b.processes.process_list.map((p: { name: string }) => p.name)).toEqual(["", "EXCEL.EXE", "cmd.exe"]);
    expect(b.stats).toMatchObject({ events: 5, bad_lines: 2 });
    expect(ctx.errorList).toEqual([expect.stringContaining("behaviour: 2 invalid event line(s) skipped (first: events/monitor.json:6: not JSON")]);
    const sigs = Object.fromEntries(ctx.signatures.list().map((x) => [x.name, x.score]));
    expect(sigs).toMatchObject({ office_spawns_shell: 9, autorun_registry: 8, drops_executable: 6, connects_raw_ip: 6 });
    {
      expect(cap).toBeDefined();
      const n = ctx.results.network as any;
      expect(n.dns.query.map((q: { name: string }) => q.name)).toEqual(cap!.names);
      expect(n.tls[0].sni).toBe(cap!.sni);
      expect(n.http.some((h: { request: { user_agent: string } }) => h.request.user_agent === cap!.userAgent)).toBe(true);
      expect(sigs.http_requests).toBe(1);
    }
  });

  test("many DNS names trigger with a lower threshold from config", async () => {
    const events = Array.from({ length: 4 }, (_, i) => ev({ ts: i, type: "network", action: "dns", pid: 5, domain: `n${i}.example.org` }));
    const dir = task("dns", events);
    expect((await post(dir)).signatures.list().some((x) => x.name === "many_dns_domains")).toBe(false);
    const ctx = await post(dir, { behaviour_signatures: { many_domains: 4 } });
    expect(ctx.signatures.list().find((x) => x.name === "many_dns_domains")?.iocs).toHaveLength(4);
  });

  test("nothing collected: no results, no errors; no task dir: plugins disable themselves; a bad pcap is a non-fatal error", async () => {
    const empty = await post(task("empty"));
    expect(empty.results).toEqual({});
    expect(empty.errorList).toEqual([]);
    expect(empty.signatures.list()).toEqual([]);
    const none = await post(undefined);
    expect(none.results).toEqual({});
    const dir = task("badpcap");
    writeFileSync(join(dir, "dump.pcap"), "definitely not a pcap file, just text");
    const bad = await post(dir);
    expect(bad.results.network).toBeUndefined();
    expect(bad.errorList).toEqual(["network: dump.pcap: not a pcap or pcapng file"]);
  });
});
