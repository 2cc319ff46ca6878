import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FALC, tempHome, waitFor } from "./helpers.ts";
import { describeUnless, isRoot } from "../skip.ts";
import { createLab, type Lab, type LabHostSpec } from "../scan/lab.ts";
import { parseNmapXml } from "../../src/scan/xml.ts";
import { applyRound, type Findings, type Model, type Mode } from "../scan/ledger-model.ts";
import { seededRandom, testSeed } from "../seeded.ts";

/**
 * The ledger against a model of ScanLedger's rules, on services GENERATED from a seed (printed;
 * FALC_SEED=<n> replays a run): nmap itself scans the namespace lab for the reference findings,
 * falc scans the same lab into one project per mode, and after every round each project's ledger
 * must equal the model applied to nmap's findings. Round 2 regenerates part of the services,
 * takes one host down and leaves one up with nothing open; round 3 scans without service
 * detection (nothing known may be emptied); a cancelled replace run must change nothing.
 * Each mode keeps its ledger in its own FALC_HOME, so the four scans of a round and nmap's run at
 * once (a ledger sees only its own runs, as before; a round costs one scan's time, not five).
 */
const seed = testSeed("scan ledger differential");

const rand = seededRandom(seed);
const pick = <T,>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;

const POOL = [22, 80, 443, 2222, 3000, 8000, 8080, 9000];
const OCTETS = [21, 22, 23, 24, 25];
const BANNERS = { http: ["nginx/1.22.1", "nginx/1.24.0", "Apache/2.4.57"], ssh: ["OpenSSH_9.2p1 Debian-2", "OpenSSH_8.4p1 Debian-5"] };
const MODES: Mode[] = ["insert", "append", "update", "replace"];
type PortPlan = { state: "open" | "closed" | "filtered"; kind?: "http" | "ssh"; banner?: string };
type HostPlan = Map<number, PortPlan> | "down";

function genPort(): PortPlan {
  const r = rand();
  if (r < 0.4) {
    const kind = pick(["http", "ssh"] as const);
    return { state: "open", kind, banner: pick(BANNERS[kind]) };
  }
  return r < 0.55 ? { state: "filtered" } : { state: "closed" };
}
function genRound(prev?: HostPlan[]): HostPlan[] {
  return OCTETS.map((_, i) => {
    if (prev && i === 0) return "down";
    const m = new Map<number, PortPlan>();
    for (const port of POOL) {
      const before = prev?.[i];
      if (prev && i === 1) m.set(port, { state: "closed" });
      else m.set(port, before && before !== "down" && rand() < 0.5 ? before.get(port)! : genPort());
    }
    return m;
  });
}
const labSpec = (plan: HostPlan[]): LabHostSpec[] =>
  plan.flatMap((h, i) => (h === "down" ? [] : [{
    octet: OCTETS[i]!,
    listeners: [...h].filter(([, p]) => p.state === "open").map(([port, p]) => ({ kind: p.kind!, port, banner: p.banner })),
    filtered: [...h].filter(([, p]) => p.state === "filtered").map(([port]) => port),
  }]));

let H: { home: string; cleanup(): void };
/** One FALC_HOME (ledger, queue, locks) per mode. */
const homes = new Map<Mode, { home: string; cleanup(): void }>();
let lab: Lab | null = null;
const third = 100 + (process.pid % 100);
const subnet = `10.213.${third}`;
const ips = OCTETS.map((o) => `${subnet}.${o}`);
const models = new Map<Mode, Model>(MODES.map((m) => [m, new Map()]));

async function falc(mode: Mode, args: string[], opts: { onStart?(p: ReturnType<typeof Bun.spawn>): Promise<void> } = {}) {
  const p = Bun.spawn([...lab!.exec, FALC, ...args], { env: { ...process.env, NO_COLOR: "1", FALC_HOME: homes.get(mode)!.home, FALC_LOG_LEVEL: "silent" }, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 180_000);
  await opts.onStart?.(p);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}

async function labRound(plan: HostPlan[], n: number) {
  lab?.destroy();
  lab = await createLab({ id: `${process.pid % 10000}d${n}`, third, hosts: labSpec(plan) });
}

/** nmap's own findings over the lab: the reference. */
async function nmapFindings(serviceScan: boolean): Promise<Findings> {
  const xml = join(H.home, "ref.xml");
  const r = Bun.spawn([...lab!.exec, "nmap", "-n", "-sS", ...(serviceScan ? ["-sV"] : []), "-p", POOL.join(","), "--max-retries", "2", "-oX", xml, "--", ...ips], { stdout: "ignore", stderr: "pipe" });
  expect(await r.exited).toBe(0);
  const rep = parseNmapXml(readFileSync(xml, "utf8"));
  const out: Findings = new Map();
  for (const h of rep.hosts) {
    if (h.status !== "up") continue;
    out.set(h.ip, new Map(h.ports.filter((p) => p.state === "open").map((p) => [p.port, { service: p.service, product: p.product, version: p.version, method: p.method }])));
  }
  return out;
}

async function ledgerOf(mode: Mode) {
  const r = await falc(mode, ["scan", "results", "--project", `p-${mode}`, "--all", "--json"]);
  expect(r.code).toBe(0);
  const view: Record<string, Record<number, unknown>> = {};
  for (const h of JSON.parse(r.stdout)) view[h.ip] = Object.fromEntries(h.ports.map((p: any) => [p.port, { state: p.state, service: p.service ?? null, product: p.product ?? null, version: p.version ?? null }]));
  return view;
}
function modelView(m: Model) {
  const view: Record<string, Record<number, unknown>> = {};
  for (const [ip, ports] of m) view[ip] = Object.fromEntries([...ports].map(([port, p]) => [port, { state: p.state, service: p.service ?? null, product: p.product ?? null, version: p.version ?? null }]));
  return view;
}

/** The reference nmap and falc's four runs (one per mode) at once: none depends on another's result. */
async function scanAllModes(profile: string, serviceScan: boolean) {
  const [ref, ...runs] = await Promise.all([nmapFindings(serviceScan), ...MODES.map((mode) => falc(mode, ["scan", ...ips, "--profile", profile, "--project", `p-${mode}`, "--mode", mode, "--parallel", "4", "--json"]))]);
  for (const [i, mode] of MODES.entries()) {
    const r = runs[i]!;
    expect({ mode, code: r.code, stderr: r.stderr }).toEqual({ mode, code: 0, stderr: "" });
    const j = JSON.parse(r.stdout);
    // Every target truthfully up or down, as nmap saw it.
    expect(Object.fromEntries(j.targets.map((t: any) => [t.ip, t.status]))).toEqual(Object.fromEntries(ips.map((ip) => [ip, ref.has(ip) ? "up" : "down"])));
    // falc's findings are nmap's.
    const found = Object.fromEntries(j.hosts.map((h: any) => [h.ip, Object.fromEntries(h.ports.map((p: any) => [p.port, [p.service ?? null, p.product ?? null, p.version ?? null]]))]));
    expect(found).toEqual(Object.fromEntries([...ref].map(([ip, ps]) => [ip, Object.fromEntries([...ps].map(([port, p]) => [port, [p.service ?? null, p.product ?? null, p.version ?? null]]))])));
    applyRound(models.get(mode)!, mode, ips, ref, new Set(POOL));
    expect({ mode, ledger: await ledgerOf(mode) }).toEqual({ mode, ledger: modelView(models.get(mode)!) });
  }
}

describeUnless(isRoot, "not root")(`falc scan ledger modes against a model of ScanLedger's rules (seed ${seed})`, () => {
  let withSv: string, noSv: string;
  beforeAll(() => {
    H = tempHome("falc-e2e-ledger-");
    for (const m of MODES) homes.set(m, tempHome(`falc-e2e-ledger-${m}-`));
    withSv = join(H.home, "sv.yaml");
    noSv = join(H.home, "nosv.yaml");
    writeFileSync(withSv, `ports: ${POOL.join(",")}\nmin_rate: 1000\nmax_retries: 2\n`);
    writeFileSync(noSv, `ports: ${POOL.join(",")}\nmin_rate: 1000\nmax_retries: 2\nservice:\n  enabled: false\n`);
  });
  afterAll(() => {
    const prefix = lab?.prefix;
    lab?.destroy();
    H?.cleanup();
    for (const h of homes.values()) h.cleanup();
    if (prefix) expect(Bun.spawnSync(["ip", "netns", "list"]).stdout.toString()).not.toContain(prefix);
  });

  const round1 = genRound();
  const round2 = genRound(round1);

  test("round 1: generated services, every mode", async () => {
    await labRound(round1, 1);
    await scanAllModes(withSv, true);
  }, 240_000);

  test("round 2: services changed, a host down, a host with nothing open", async () => {
    await labRound(round2, 2);
    await scanAllModes(withSv, true);
  }, 240_000);

  test("round 3: no service detection: nothing known is emptied", async () => {
    await scanAllModes(noSv, false);
  }, 240_000);

  test("a cancelled replace run changes nothing in the ledger", async () => {
    const before = await ledgerOf("replace");
    // A slow profile (every port, one packet at a time) so the run is surely cancelled mid-way.
    const slow = join(H.home, "slow.yaml");
    writeFileSync(slow, "ports: 1-65535\nmax_rate: 200\n");
    const ledger = join(homes.get("replace")!.home, "scan", "ledger.sqlite");
    const { Database } = await import("bun:sqlite");
    const runIds = (status?: string) => {
      const db = new Database(ledger, { readonly: true });
      try {
        return (db.query(`SELECT id FROM runs${status ? " WHERE status=?" : ""}`).all(...(status ? [status] : [])) as { id: string }[]).map((x) => x.id);
      } finally {
        db.close();
      }
    };
    const earlier = new Set(runIds());
    const r = await falc("replace", ["scan", ...ips, "--profile", slow, "--project", "p-replace", "--mode", "replace", "--json"], {
      async onStart(p) {
        // This run is recorded as started before any nmap (an earlier run left 'started' must not count): then interrupt it.
        await waitFor(() => runIds("started").some((id) => !earlier.has(id)), 30_000, 100, "the run to start");
        p.kill("SIGINT");
      },
    });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).status).toBe("cancelled");
    expect(await ledgerOf("replace")).toEqual(before);
  }, 120_000);
});
