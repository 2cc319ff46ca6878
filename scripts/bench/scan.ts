#!/usr/bin/env bun
/**
 * Scan benchmark on the namespace lab (root needed): the same /24 scanned by
 *   1. falc scan (host sweep, then one two-phase task per live host, --parallel N)
 *   2. one `nmap -sV -p- <range>`
 *   3. a Falcoria-like sequential run (falc scan --parallel 1)
 * Prints times, ratios, and whether the open-port/service sets are identical.
 *   bun scripts/bench/scan.ts [--hosts 8] [--parallel 8] [--falc /tmp/x/falc]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createLab, type LabHostSpec } from "../../src/scan/lab.ts";
import { parseNmapXml, type ScanHost } from "../../src/scan/xml.ts";

const { values } = parseArgs({ options: { hosts: { type: "string", default: "8" }, parallel: { type: "string", default: "8" }, falc: { type: "string" } } });
const falc = resolve(values.falc ?? process.env.FALC_BIN ?? "dist/falc");
const n = Number(values.hosts);
const kinds: LabHostSpec["listeners"][] = [
  [{ kind: "http", port: 80 }, { kind: "ssh", port: 22 }],
  [{ kind: "redis", port: 6379 }],
  [{ kind: "http", port: 8080 }, { kind: "ssh", port: 2222 }],
  [{ kind: "http", port: 443 }],
];
const hosts: LabHostSpec[] = Array.from({ length: n }, (_, i) => ({ octet: 20 + i, listeners: kinds[i % kinds.length]! }));
const lab = await createLab({ hosts });
const home = mkdtempSync(join(tmpdir(), "falc-bench-scan-"));
const profile = join(home, "bench.yaml");
writeFileSync(profile, "ports: 1-65535\nmin_rate: 5000\nmax_retries: 1\nservice:\n  version_intensity: 7\n");

const set = (hs: ScanHost[]) => hs.flatMap((h) => h.ports.filter((p) => p.state === "open").map((p) => `${h.ip}:${p.port}/${p.proto} ${p.service ?? "?"}`)).sort();

async function timed(argv: string[]): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  const p = Bun.spawn([...lab.exec, ...argv], { env: { ...process.env, FALC_HOME: home, FALC_LOG_LEVEL: "silent", NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")} exited ${code}: ${err.slice(0, 300)}`);
  return { ms: performance.now() - t0, out };
}

try {
  const f = await timed([falc, "scan", lab.subnet, "--profile", profile, "--project", "bench-par", "--parallel", values.parallel!, "--json"]);
  const falcSet = set(JSON.parse(f.out).hosts);
  const xml = join(home, "nmap.xml");
  const m = await timed(["nmap", "-sV", "-p-", "-n", "--min-rate", "5000", "--max-retries", "1", "-oX", xml, lab.subnet]);
  const nmapSet = set(parseNmapXml(readFileSync(xml, "utf8")).hosts);
  const s = await timed([falc, "scan", lab.subnet, "--profile", profile, "--project", "bench-seq", "--parallel", "1", "--json"]);
  const seqSet = set(JSON.parse(s.out).hosts);
  const row = (name: string, ms: number, same: boolean) => console.log(`${name.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(7)} s   ${same ? "identical findings" : "DIFFERENT findings"}`);
  console.log(`lab ${lab.subnet}: ${n} hosts, ${falcSet.length} open ports; machine: ${navigator.hardwareConcurrency} cores`);
  row(`falc scan --parallel ${values.parallel}`, f.ms, true);
  row("nmap -sV -p- <range> (one process)", m.ms, JSON.stringify(nmapSet) === JSON.stringify(falcSet));
  row("sequential (falc scan --parallel 1)", s.ms, JSON.stringify(seqSet) === JSON.stringify(falcSet));
  console.log(`speed-up vs single nmap: ${(m.ms / f.ms).toFixed(2)}x   vs sequential: ${(s.ms / f.ms).toFixed(2)}x`);
  if (JSON.stringify(nmapSet) !== JSON.stringify(falcSet)) {
    console.log("only falc:", falcSet.filter((x) => !nmapSet.includes(x)));
    console.log("only nmap:", nmapSet.filter((x) => !falcSet.includes(x)));
  }
} finally {
  lab.destroy();
  rmSync(home, { recursive: true, force: true });
}
