import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ip, startListeners } from "../scan/lab.ts";

/**
 * A falc cluster in network namespaces on this machine (issue 18): every node is a namespace with its own
 * address, FALC_HOME and processes, joined by a bridge in a hub namespace; lab target hosts sit on a second
 * bridge that only the worker nodes reach. No namespace has a route out, so nothing leaves the machine.
 *
 *   redis   10.214.T.2    redis-server (appendonly yes, appendfsync always)
 *   master  10.214.T.3    falc sync master, falc eval serve
 *   submit  10.214.T.4    no worker: where work is submitted and watched from
 *   wN      10.214.T.1N   falc worker (scan, identification, pre, post, eval) + falc sync worker;
 *                         second interface 10.215.T.1N on the target net
 *   targets 10.215.T.10x  listeners (http, ssh) from test/scan/lab-host.ts
 */

export type Role = "redis" | "master" | "submit" | "worker";

export interface ClusterNode {
  name: string;
  role: Role;
  ns: string;
  ip: string;
  /** Worker nodes: address on the target net. */
  targetIp?: string;
  home: string;
  /** The worker's synced tree (worker nodes) or the master's tree (master). */
  tree?: string;
}

export interface TargetHost {
  ns: string;
  ip: string;
  listeners: { kind: "http" | "ssh"; port: number }[];
}

export interface ClusterOptions {
  /** Unique per process by default; keeps namespace names apart. */
  id?: string;
  workers?: number;
  /** The binary every node runs (default dist/falc). */
  falc?: string;
  targets?: { listeners: TargetHost["listeners"] }[];
  /** Seconds a worker node's claimed task stays held without a heartbeat. */
  leaseS?: number;
  /** Children per stage on each worker node, e.g. { scan: 1, pre: 1 }. */
  counts?: Record<string, number>;
  stages?: string[];
  /** Start falc worker on every worker node at once (default true); false leaves it to the caller. */
  startWorkers?: boolean;
  /** Extra environment for every falc process. */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

export const DEFAULT_TARGETS: ClusterOptions["targets"] = [
  { listeners: [{ kind: "http", port: 80 }, { kind: "ssh", port: 22 }] },
  { listeners: [{ kind: "http", port: 8080 }] },
  { listeners: [{ kind: "ssh", port: 2222 }] },
];

const REPO = resolve(import.meta.dir, "../..");


/** pids of every process inside a namespace (`ip netns pids`). */
export function nsPids(ns: string): number[] {
  const r = Bun.spawnSync(["ip", "netns", "pids", ns], { stdout: "pipe", stderr: "ignore" });
  return r.stdout.toString().split(/\s+/).filter(Boolean).map(Number);
}

export class Cluster {
  readonly id: string;
  readonly hub: string;
  readonly subnet: string;
  readonly targetSubnet: string;
  readonly nodes: ClusterNode[] = [];
  readonly targets: TargetHost[] = [];
  readonly root: string;
  readonly keyFile: string;
  readonly evalKey = "cluster-eval-key-" + crypto.randomUUID();
  readonly falc: string;
  private procs = new Map<string, { node: ClusterNode; argv: string[]; proc: ReturnType<typeof Bun.spawn> }>();
  private namespaces: string[] = [];
  private log: (l: string) => void;

  constructor(readonly opts: ClusterOptions = {}) {
    this.id = opts.id ?? String(process.pid % 100000);
    const third = (Number(this.id.replace(/\D/g, "") || "0") % 250) + 1;
    this.hub = `fc${this.id}hub`;
    this.subnet = `10.214.${third}`;
    this.targetSubnet = `10.215.${third}`;
    this.root = mkdtempSync(join(tmpdir(), "falc-cluster-"));
    this.keyFile = join(this.root, "cluster.key");
    this.falc = resolve(opts.falc ?? process.env.FALC_BIN ?? join(REPO, "dist/falc"));
    this.log = opts.log ?? (() => {});
  }

  node(name: string): ClusterNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no cluster node ${name}`);
    return n;
  }
  get workers(): ClusterNode[] {
    return this.nodes.filter((n) => n.role === "worker");
  }
  get redisUrl(): string {
    return `redis://${this.node("redis").ip}:6379/0`;
  }
  get masterAddr(): string {
    return `${this.node("master").ip}:1516`;
  }
  get evalUrl(): string {
    return `http://${this.node("master").ip}:8081`;
  }

  /**
   * argv prefix that runs a program in a node's network namespace only. Not `ip netns exec`: it also makes a
   * mount namespace with a fresh /sys, which hides /sys/fs/cgroup, and falc's sandboxes need their cgroups.
   */
  enter(ns: string): string[] {
    return ["nsenter", `--net=/run/netns/${ns}`, "--"];
  }

  /** Environment every falc process of a node gets: its own home, the shared queue (never in argv). */
  env(node: ClusterNode): Record<string, string> {
    return {
      ...(process.env as Record<string, string>),
      FALC_HOME: node.home,
      FALC_QUEUE: this.redisUrl,
      FALC_NODE: node.name,
      FALC_EVAL_API_KEY: this.evalKey,
      // Analyses are written by whichever node runs a stage: one storage for all, as a shared filesystem would be.
      FALC_STORAGE: join(this.root, "storage"),
      // Node logs go to files (root/logs) and the tests read info lines from them (e.g. the scheduler leader).
      FALC_LOG_LEVEL: "info",
      NO_COLOR: "1",
      ...this.opts.env,
    };
  }

  private addNs(ns: string): void {
    ip(["netns", "add", ns]);
    this.namespaces.push(ns);
    ip(["-n", ns, "link", "set", "lo", "up"]);
  }

  /** Wire `ns` to bridge `br` in the hub with an interface `dev` holding `addr`. */
  private wire(ns: string, br: string, dev: string, addr: string, tag: string): void {
    const hubEnd = `${tag}`;
    ip(["-n", this.hub, "link", "add", hubEnd, "type", "veth", "peer", "name", dev]);
    ip(["-n", this.hub, "link", "set", dev, "netns", ns]);
    ip(["-n", this.hub, "link", "set", hubEnd, "master", br]);
    ip(["-n", this.hub, "link", "set", hubEnd, "up"]);
    ip(["-n", ns, "addr", "add", `${addr}/24`, "dev", dev]);
    ip(["-n", ns, "link", "set", dev, "up"]);
  }

  async up(): Promise<void> {
    const workers = this.opts.workers ?? 3;
    this.addNs(this.hub);
    for (const br of ["br0", "br1"]) {
      ip(["-n", this.hub, "link", "add", br, "type", "bridge"]);
      ip(["-n", this.hub, "link", "set", br, "up"]);
    }
    const specs: { name: string; role: Role; octet: number }[] = [
      { name: "redis", role: "redis", octet: 2 },
      { name: "master", role: "master", octet: 3 },
      { name: "submit", role: "submit", octet: 4 },
      ...Array.from({ length: workers }, (_, i) => ({ name: `w${i + 1}`, role: "worker" as Role, octet: 11 + i })),
    ];
    for (const s of specs) {
      const ns = `fc${this.id}${s.name}`;
      this.addNs(ns);
      const home = join(this.root, s.name);
      mkdirSync(home, { recursive: true });
      const node: ClusterNode = { name: s.name, role: s.role, ns, ip: `${this.subnet}.${s.octet}`, home };
      this.wire(ns, "br0", "eth0", node.ip, `c${s.octet}`);
      if (s.role === "worker") {
        node.targetIp = `${this.targetSubnet}.${s.octet}`;
        this.wire(ns, "br1", "eth1", node.targetIp, `t${s.octet}`);
      }
      this.nodes.push(node);
    }
    for (const [i, t] of (this.opts.targets ?? DEFAULT_TARGETS)!.entries()) {
      const ns = `fc${this.id}t${i}`;
      this.addNs(ns);
      const addr = `${this.targetSubnet}.${101 + i}`;
      this.wire(ns, "br1", "eth0", addr, `x${i}`);
      const p = await startListeners(ns, addr, t.listeners);
      this.procs.set(`target-${i}`, { node: { name: `t${i}`, role: "submit", ns, ip: addr, home: this.root }, argv: [], proc: p });
      this.targets.push({ ns, ip: addr, listeners: t.listeners });
    }
    await this.startServices();
  }

  private async startServices(): Promise<void> {
    const keygen = this.run(this.node("master"), [this.falc, "sync", "keygen", "--out", this.keyFile]);
    if (keygen.code !== 0) throw new Error(`falc sync keygen: ${keygen.stderr}`);
    chmodSync(this.keyFile, 0o600);
    await this.startRedis();
    const master = this.node("master");
    master.tree = join(master.home, "shared");
    mkdirSync(master.tree, { recursive: true });
    writeFileSync(join(master.tree, "README"), "shared tree of the falc cluster\n");
    this.startMaster();
    this.startEvalServe();
    for (const w of this.workers) {
      w.tree = join(w.home, "shared");
      mkdirSync(w.tree, { recursive: true });
      if (this.opts.startWorkers !== false) this.startWorker(w);
      this.startSyncWorker(w);
    }
    if (this.opts.startWorkers !== false) await this.waitHealthy();
  }

  async startRedis(): Promise<void> {
    const n = this.node("redis");
    this.spawn("redis", n, ["redis-server", "--bind", n.ip, "--port", "6379", "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", n.home, "--protected-mode", "no"]);
    await this.waitFor(() => this.run(n, ["redis-cli", "-h", n.ip, "ping"]).stdout.includes("PONG"), 10_000, "redis-server");
  }

  startMaster(): void {
    const m = this.node("master");
    this.spawn("sync-master", m, [this.falc, "sync", "master", "--listen", this.masterAddr, "--dir", m.tree!, "--key-file", this.keyFile, "--interval", "2"]);
  }

  startEvalServe(): void {
    const m = this.node("master");
    this.spawn("eval-serve", m, [this.falc, "eval", "serve", "--host", m.ip, "--port", "8081"]);
  }

  workerArgv(stages = this.opts.stages ?? ["scan", "identification", "pre", "post", "eval"], countsBy = this.opts.counts ?? {}): string[] {
    const counts = Object.entries(countsBy).flatMap(([s, n]) => ["--count", `${s}=${n}`]);
    return [this.falc, "worker", "--stage", stages.join(","), ...counts, "--no-tui", "--lease", String(this.opts.leaseS ?? 10), "--grace", "5", "--health-port", "8082"];
  }

  startWorker(w: ClusterNode, stages?: string[], counts?: Record<string, number>): void {
    this.spawn(`worker-${w.name}`, w, [...this.workerArgv(stages, counts), "--health-host", w.ip]);
  }

  startSyncWorker(w: ClusterNode): void {
    this.spawn(`sync-${w.name}`, w, [this.falc, "sync", "worker", "--master", this.masterAddr, "--dir", w.tree!, "--key-file", this.keyFile, "--name", w.name]);
  }

  /** Start a long-running process on a node, logging its output to root/logs/<key>.log. */
  spawn(key: string, node: ClusterNode, argv: string[]): ReturnType<typeof Bun.spawn> {
    const logs = join(this.root, "logs");
    mkdirSync(logs, { recursive: true });
    // Appended, so a node's log keeps what it wrote before a restart.
    const out = openSync(join(logs, `${key}.log`), "a");
    const proc = Bun.spawn([...this.enter(node.ns), ...argv], { env: this.env(node), stdout: out, stderr: out, stdin: "ignore" });
    closeSync(out);
    this.procs.set(key, { node, argv, proc });
    this.log(`started ${key} on ${node.name}: ${argv.join(" ")}`);
    return proc;
  }

  /** Run a command on a node to its end. */
  run(node: ClusterNode, argv: string[], opts: { stdin?: string; timeoutMs?: number; env?: Record<string, string> } = {}): { code: number; stdout: string; stderr: string } {
    const r = Bun.spawnSync([...this.enter(node.ns), ...argv], {
      env: { ...this.env(node), ...opts.env },
      stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: opts.timeoutMs ?? 60_000,
    });
    return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }

  /** `falc ARGS` on a node (default: the submit node). */
  falcOn(node: ClusterNode | string, args: string[], opts: { stdin?: string; timeoutMs?: number } = {}) {
    return this.run(typeof node === "string" ? this.node(node) : node, [this.falc, ...args], opts);
  }

  async waitFor(fn: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await fn())) {
      if (Date.now() > deadline) throw new Error(`cluster: timed out after ${timeoutMs} ms waiting for ${what} (logs in ${join(this.root, "logs")})\n${this.warnings()}`);
      await Bun.sleep(100);
    }
  }

  /**
   * The last warnings and errors (level 40+) of every node's log: said with a timeout, since the logs go with the
   * cluster's temp dir when the test ends (unless FALC_KEEP_CLUSTER is set).
   */
  warnings(perLog = 8): string {
    const dir = this.logsDir();
    if (!existsSync(dir)) return "";
    return readdirSync(dir)
      .sort()
      .map((f) => {
        const bad = readFileSync(join(dir, f), "utf8").split("\n").filter((l) => /"level":[4-6]0/.test(l));
        return bad.length ? `${f}:\n  ${bad.slice(-perLog).map((l) => l.slice(0, 400)).join("\n  ")}` : "";
      })
      .filter(Boolean)
      .join("\n");
  }

  /** A worker node's /health, fetched from inside its namespace. */
  health(w: ClusterNode): { code: number; body: string } {
    const r = this.run(w, ["curl", "-s", "-m", "2", "-o", "-", "-w", "\n%{http_code}", `http://${w.ip}:8082/health`]);
    const lines = r.stdout.trimEnd().split("\n");
    const code = Number(lines.pop());
    return { code: Number.isFinite(code) ? code : 0, body: lines.join("\n") };
  }

  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    for (const w of this.workers) await this.waitFor(() => this.health(w).code === 200, timeoutMs, `worker node ${w.name} healthy`);
  }

  /** kill -9 of every process of a node (the whole machine dies). */
  killNode(node: ClusterNode): number[] {
    const pids = nsPids(node.ns);
    for (const pid of pids) try { process.kill(pid, "SIGKILL"); } catch {}
    for (const [k, p] of this.procs) if (p.node === node) this.procs.delete(k);
    return pids;
  }

  /** Cut a node off the cluster net (its target-net link stays up). */
  partition(node: ClusterNode): void {
    ip(["-n", node.ns, "link", "set", "eth0", "down"]);
  }
  heal(node: ClusterNode): void {
    ip(["-n", node.ns, "link", "set", "eth0", "up"]);
  }

  /** kill -9 of one named process (e.g. "redis", "sync-master"). */
  kill(key: string, signal: NodeJS.Signals = "SIGKILL"): void {
    const p = this.procs.get(key);
    if (!p) throw new Error(`no cluster process ${key}`);
    // nsenter execs the program, so the pid is the program's.
    try { process.kill(p.proc.pid, signal); } catch {}
    this.procs.delete(key);
  }

  async stopped(key: string): Promise<void> {
    await this.procs.get(key)?.proc.exited;
  }

  logsDir(): string {
    return join(this.root, "logs");
  }

  /** How to reach each node, for `scripts/cluster up`. */
  describe(): Record<string, unknown> {
    return {
      redis: this.redisUrl,
      sync_master: this.masterAddr,
      eval_service: this.evalUrl,
      key_file: this.keyFile,
      logs: this.logsDir(),
      nodes: this.nodes.map((n) => ({ name: n.name, role: n.role, ip: n.ip, target_ip: n.targetIp, home: n.home, exec: this.enter(n.ns).join(" ") })),
      targets: this.targets.map((t) => ({ ip: t.ip, listeners: t.listeners })),
    };
  }

  destroy(): void {
    for (const ns of [...this.namespaces].reverse()) {
      for (const pid of nsPids(ns)) try { process.kill(pid, "SIGKILL"); } catch {}
    }
    for (const p of this.procs.values()) try { p.proc.kill("SIGKILL"); } catch {}
    for (const ns of [...this.namespaces].reverse()) ip(["netns", "del", ns], true);
    this.namespaces = [];
    if (!process.env.FALC_KEEP_CLUSTER) rmSync(this.root, { recursive: true, force: true });
  }
}

export async function createCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const c = new Cluster(opts);
  try {
    await c.up();
  } catch (e) {
    c.destroy();
    throw e;
  }
  return c;
}
