/**
 * A small model of the ledger's rules (ScanLedger's modes, plus "empty never overwrites known"),
 * written from the rules, not from src/scan/ledger.ts, for the differential test.
 */
export type Mode = "insert" | "append" | "update" | "replace";
export interface Svc { service?: string; product?: string; version?: string; method?: string }
export interface MPort extends Svc { state: "open" | "closed" }
/** ip → port → what the ledger holds. */
export type Model = Map<string, Map<number, MPort>>;
/** What a scan found: up hosts only, with their open ports. */
export type Findings = Map<string, Map<number, Svc>>;

function merge(old: MPort, s: Svc): MPort {
  // A name from nmap's port table is a guess: it never replaces a known name.
  const service = s.method === "table" && old.service ? old.service : s.service ?? old.service;
  const renamed = s.method !== "table" && !!s.service && !!old.service && s.service !== old.service;
  return {
    state: "open",
    service,
    product: s.product ?? (renamed ? undefined : old.product),
    version: s.version ?? (renamed ? undefined : old.version),
  };
}

/** Apply one run that scanned `targets` on `ports` and found `found`, in `mode`. */
export function applyRound(m: Model, mode: Mode, targets: string[], found: Findings, ports: Set<number>): void {
  for (const ip of targets) {
    const f = found.get(ip);
    const known = m.get(ip);
    if (mode === "insert" && known) continue;
    if (!known && !f) continue;
    const host = known ?? new Map<number, MPort>();
    m.set(ip, host);
    for (const [port, s] of f ?? []) {
      const old = host.get(port);
      if (!old) host.set(port, { state: "open", service: s.service, product: s.product, version: s.version });
      else if (mode === "append" && old.state === "open") continue;
      else host.set(port, merge(old, s));
    }
    if (mode === "replace") for (const [port, p] of host) if (p.state === "open" && ports.has(port) && !f?.has(port)) p.state = "closed";
  }
}
