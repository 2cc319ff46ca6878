import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unavailable } from "../../src/core/errors.ts";

/**
 * A network-namespace lab: a scanner namespace holding a bridge on a private /24, and host
 * namespaces wired to it with veth pairs, each with real listeners (HTTP, SSH-like banner,
 * real redis-server). Nothing is added to the root namespace, so no packet can leave.
 */
export interface LabHostSpec {
  /** Last octet. */
  octet: number;
  /** `banner`: the HTTP Server header or the SSH version string (a default when not given). */
  listeners: { kind: "http" | "ssh" | "redis"; port: number; banner?: string }[];
  /** TCP ports (or "all") whose replies the host drops (policy routing), so nmap sees them filtered. */
  filtered?: (number | "all")[];
}

export interface Lab {
  prefix: string;
  subnet: string;
  scannerNs: string;
  hosts: { ns: string; ip: string; listeners: LabHostSpec["listeners"] }[];
  /** argv prefix that runs a program inside the scanner namespace. */
  exec: string[];
  destroy(): void;
}

export const DEFAULT_LAB: LabHostSpec[] = [
  { octet: 11, listeners: [{ kind: "http", port: 80 }, { kind: "ssh", port: 22 }] },
  { octet: 12, listeners: [{ kind: "redis", port: 6379 }] },
  { octet: 13, listeners: [{ kind: "http", port: 8080 }, { kind: "ssh", port: 2222 }] },
  { octet: 14, listeners: [] },
];

/** `ip ARGS` (iproute2); a failure is an error naming the command unless `allowFail`. Also used by test/cluster. */
export function ip(args: string[], allowFail = false): void {
  const r = Bun.spawnSync(["ip", ...args], { stderr: "pipe", stdout: "ignore" });
  if (r.exitCode !== 0 && !allowFail) throw unavailable(`ip ${args.join(" ")}: ${r.stderr.toString().trim()}`);
}

/** Start a host's http/ssh listeners (lab-host.ts) inside namespace `ns` and wait until they are bound. */
export async function startListeners(ns: string, addr: string, listeners: { kind: string; port: number; banner?: string }[]): Promise<ReturnType<typeof Bun.spawn>> {
  const p = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, join(import.meta.dir, "lab-host.ts"), addr, ...listeners.map((l) => `${l.kind}:${l.port}${l.banner ? `:${l.banner}` : ""}`)], {
    stdout: "pipe", stderr: "inherit", env: { ...process.env, BUN_BE_BUN: "1" },
  });
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  const { value } = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => ({ value: undefined }))]);
  if (!value || !new TextDecoder().decode(value).includes("ready")) {
    p.kill("SIGKILL");
    throw unavailable(`lab host ${addr}: listeners did not start`);
  }
  reader.releaseLock();
  return p;
}

/** Create the lab. `id` keeps names unique per test process (netns names carry the pid). */
export async function createLab(opts: { id?: string; third?: number; hosts?: LabHostSpec[] } = {}): Promise<Lab> {
  const id = opts.id ?? String(process.pid % 100000);
  const prefix = `fl${id}`;
  const third = opts.third ?? (process.pid % 250) + 1;
  const subnet = `10.213.${third}`;
  const scannerNs = `${prefix}s`;
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  const nss: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), "falc-lab-"));
  const lab: Lab = {
    prefix,
    subnet: `${subnet}.0/24`,
    scannerNs,
    hosts: [],
    exec: ["ip", "netns", "exec", scannerNs],
    destroy() {
      for (const p of procs) try { p.kill("SIGKILL"); } catch {}
      for (const ns of nss.reverse()) ip(["netns", "del", ns], true);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    ip(["netns", "add", scannerNs]);
    nss.push(scannerNs);
    const inS = (args: string[]) => ip(["-n", scannerNs, ...args]);
    inS(["link", "set", "lo", "up"]);
    inS(["link", "add", "br0", "type", "bridge"]);
    inS(["addr", "add", `${subnet}.1/24`, "dev", "br0"]);
    inS(["link", "set", "br0", "up"]);
    for (const [i, h] of (opts.hosts ?? DEFAULT_LAB).entries()) {
      const ns = `${prefix}h${i}`;
      const addr = `${subnet}.${h.octet}`;
      ip(["netns", "add", ns]);
      nss.push(ns);
      // Create the pair inside the scanner namespace, then move one end to the host.
      inS(["link", "add", `v${i}`, "type", "veth", "peer", "name", "eth0"]);
      inS(["link", "set", "eth0", "netns", ns]);
      inS(["link", "set", `v${i}`, "master", "br0"]);
      inS(["link", "set", `v${i}`, "up"]);
      ip(["-n", ns, "link", "set", "lo", "up"]);
      ip(["-n", ns, "addr", "add", `${addr}/24`, "dev", "eth0"]);
      ip(["-n", ns, "link", "set", "eth0", "up"]);
      // No netfilter here: a blackhole rule for replies from the port drops its SYN-ACK or RST.
      for (const port of h.filtered ?? []) ip(["-n", ns, "rule", "add", "ipproto", "tcp", ...(port === "all" ? [] : ["sport", String(port)]), "blackhole"]);
      const bunL = h.listeners.filter((l) => l.kind !== "redis");
      if (bunL.length) {
        procs.push(await startListeners(ns, addr, bunL));
      }
      for (const l of h.listeners.filter((l) => l.kind === "redis")) {
        const p = Bun.spawn(["ip", "netns", "exec", ns, "redis-server", "--bind", addr, "--port", String(l.port), "--save", "", "--appendonly", "no", "--dir", dataDir, "--protected-mode", "no"], { stdout: "ignore", stderr: "ignore" });
        procs.push(p);
        const deadline = Date.now() + 10_000;
        for (;;) {
          const ok = Bun.spawnSync(["ip", "netns", "exec", ns, "redis-cli", "-h", addr, "-p", String(l.port), "ping"], { stdout: "pipe", stderr: "ignore" }).stdout.toString().includes("PONG");
          if (ok) break;
          if (Date.now() > deadline) throw unavailable(`lab host ${addr}: redis-server did not start`);
          await Bun.sleep(100);
        }
      }
      lab.hosts.push({ ns, ip: addr, listeners: h.listeners });
    }
    // Wait until every host answers from the scanner namespace.
    for (const h of lab.hosts) {
      const r = Bun.spawnSync([...lab.exec, "nmap", "-sn", "-n", "--max-retries", "3", h.ip], { stdout: "pipe", stderr: "ignore" });
      if (!r.stdout.toString().includes("Host is up")) throw unavailable(`lab host ${h.ip} unreachable from the scanner namespace`);
    }
  } catch (e) {
    lab.destroy();
    throw e;
  }
  return lab;
}
