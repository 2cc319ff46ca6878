#!/usr/bin/env bun
/**
 * Scan benchmark on the namespace lab (root needed): the same /24 scanned by
 *   1. falc scan (host sweep, then one two-phase task per live host, --parallel N)
 *   2. one `nmap -sV -p- <range>`
 *   3. a Falcoria-like sequential run (falc scan --parallel 1)
 * Prints times, ratios, and whether the open-port/service sets are identical; with --rounds N,
 * every round and the medians (the machine is shared: one round says little).
 * It also times `nmap -sV` of each kind of open port alone: no tool that identifies that service
 * with nmap can finish sooner, which bounds the speed-up any two-phase scan can reach here.
 * Lab sizes: 8 hosts, then 16 (more hosts, the same kinds of services); --hosts 8 for one size.
 * --before BIN also times another falc build (an earlier commit) in every round, next to this one,
 * so a change is measured against its baseline under the same load; --no-sequential skips 3.
 *   bun scripts/bench/scan.ts [--hosts 8,16] [--parallel 8] [--rounds 1] [--falc /tmp/x/falc] [--before /tmp/old/falc] [--no-sequential]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createLab, type LabHostSpec } from "../../test/scan/lab.ts";
import { parseNmapXml, type ScanHost } from "../../src/scan/xml.ts";

const { values } = parseArgs({ options: { hosts: { type: "string", default: "8,16" }, parallel: { type: "string", default: "8" }, rounds: { type: "string", default: "1" }, falc: { type: "string" }, before: { type: "string" }, "no-sequential": { type: "boolean", default: false } } });
const falc = resolve(values.falc ?? process.env.FALC_BIN ?? "dist/falc");
const rounds = Math.max(1, Number(values.rounds));
const before = values.before ? resolve(values.before) : null;
const sequential = !values["no-sequential"];
const kinds: LabHostSpec["listeners"][] = [
  [{ kind: "http", port: 80 }, { kind: "ssh", port: 22 }],
  [{ kind: "redis", port: 6379 }],
  [{ kind: "http", port: 8080 }, { kind: "ssh", port: 2222 }],
  [{ kind: "http", port: 443 }],
];

const set = (hs: ScanHost[]) => hs.flatMap((h) => h.ports.filter((p) => p.state === "open").map((p) => `${h.ip}:${p.port}/${p.proto} ${p.service ?? "?"}`)).sort();
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

for (const n of values.hosts!.split(",").map(Number)) await bench(n);

async function bench(n: number) {
const hosts: LabHostSpec[] = Array.from({ length: n }, (_, i) => ({ octet: 20 + i, listeners: kinds[i % kinds.length]! }));
const lab = await createLab({ hosts });
const home = mkdtempSync(join(tmpdir(), "falc-bench-scan-"));
const profile = join(home, "bench.yaml");
writeFileSync(profile, "ports: 1-65535\nmin_rate: 5000\nmax_retries: 1\nservice:\n  version_intensity: 7\n");

async function timed(argv: string[]): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  const p = Bun.spawn([...lab.exec, ...argv], { env: { ...process.env, FALC_HOME: home, FALC_LOG_LEVEL: "silent", NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")} exited ${code}: ${err.slice(0, 300)}`);
  return { ms: performance.now() - t0, out };
}

try {
  console.log(`lab ${lab.subnet}: ${n} hosts; machine: ${navigator.hardwareConcurrency} cores; load ${load()}`);
  const times = { falc: [] as number[], nmap: [] as number[], seq: [] as number[], before: [] as number[] };
  let same = true;
  for (let r = 1; r <= rounds; r++) {
    const f = await timed([falc, "scan", lab.subnet, "--profile", profile, "--project", `bench-par-${r}`, "--parallel", values.parallel!, "--json"]);
    const falcSet = set(JSON.parse(f.out).hosts);
    const xml = join(home, "nmap.xml");
    const m = await timed(["nmap", "-sV", "-p-", "-n", "--min-rate", "5000", "--max-retries", "1", "-oX", xml, lab.subnet]);
    const nmapSet = set(parseNmapXml(readFileSync(xml, "utf8")).hosts);
    const s = sequential ? await timed([falc, "scan", lab.subnet, "--profile", profile, "--project", `bench-seq-${r}`, "--parallel", "1", "--json"]) : null;
    const seqSet = s ? set(JSON.parse(s.out).hosts) : falcSet;
    const b = before ? await timed([before, "scan", lab.subnet, "--profile", profile, "--project", `bench-before-${r}`, "--parallel", values.parallel!, "--json"]) : null;
    const beforeSet = b ? set(JSON.parse(b.out).hosts) : falcSet;
    times.falc.push(f.ms), times.nmap.push(m.ms);
    if (s) times.seq.push(s.ms);
    if (b) times.before.push(b.ms);
    const ok = JSON.stringify(nmapSet) === JSON.stringify(falcSet) && JSON.stringify(seqSet) === JSON.stringify(falcSet) && JSON.stringify(beforeSet) === JSON.stringify(falcSet);
    same &&= ok;
    console.log(`round ${r}: ${falcSet.length} open ports; falc ${secs(f.ms)}, nmap ${secs(m.ms)}${s ? `, sequential ${secs(s.ms)}` : ""}${b ? `, before ${secs(b.ms)}` : ""}: ${(m.ms / f.ms).toFixed(2)}x vs nmap${s ? `, ${(s.ms / f.ms).toFixed(2)}x vs sequential` : ""}${b ? `, before ${(m.ms / b.ms).toFixed(2)}x vs nmap` : ""}; ${ok ? "identical findings" : "DIFFERENT findings"}; load ${load()}`);
    if (!ok) {
      console.log("  only falc:", falcSet.filter((x) => !nmapSet.includes(x)), " only nmap:", nmapSet.filter((x) => !falcSet.includes(x)), " sequential differs:", JSON.stringify(seqSet) !== JSON.stringify(falcSet));
    }
  }
  const [f, m] = [median(times.falc), median(times.nmap)];
  const row = (name: string, ms: number) => console.log(`${name.padEnd(38)} ${secs(ms).padStart(9)}`);
  console.log(rounds > 1 ? `medians of ${rounds} rounds:` : "");
  row(`falc scan --parallel ${values.parallel}`, f);
  row("nmap -sV -p- <range> (one process)", m);
  if (times.seq.length) row("sequential (falc scan --parallel 1)", median(times.seq));
  if (times.before.length) row(`before (${before})`, median(times.before));
  console.log(`speed-up vs single nmap: ${(m / f).toFixed(2)}x${times.seq.length ? `   vs sequential: ${(median(times.seq) / f).toFixed(2)}x` : ""}${times.before.length ? `   before: ${(m / median(times.before)).toFixed(2)}x` : ""}   findings: ${same ? "identical" : "DIFFERENT"}`);

  // The floor: nmap -sV of one port alone, for each kind of service in the lab.
  const alone: [string, number][] = [];
  for (const [i, k] of kinds.slice(0, n).entries())
    for (const l of k) {
      const t = await timed(["nmap", "-sV", "-Pn", "-n", "--version-intensity", "7", "-p", String(l.port), "-oX", "/dev/null", `${lab.subnet.replace(/\.0\/24$/, "")}.${20 + i}`]);
      alone.push([`${l.kind}:${l.port}`, t.ms]);
    }
  const slowest = alone.reduce((a, b) => (b[1] > a[1] ? b : a));
  console.log(`one port's nmap -sV alone: ${alone.map(([k, ms]) => `${k} ${secs(ms)}`).join(", ")}`);
  console.log(`floor: ${slowest[0]} alone takes ${secs(slowest[1])}, so no two-phase scan can beat ${(m / slowest[1]).toFixed(2)}x vs this nmap run (before finding the port at all)`);
} finally {
  lab.destroy();
  rmSync(home, { recursive: true, force: true });
}
}
