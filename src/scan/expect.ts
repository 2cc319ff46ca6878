import type { ScanHost } from "./xml.ts";

/**
 * CI checks: every expected port open on every host that was up (give every up host, with or
 * without open ports: one without the port fails), and (with failOnNew)
 * no open port outside the expected set, or, without one, outside what the ledger knew before.
 */
export function expectationFailures(hosts: ScanHost[], o: { expected: number[] | null; failOnNew: boolean; before: Set<string> }): string[] {
  const out: string[] = [];
  if (o.expected) {
    const want = new Set(o.expected);
    if (!hosts.length) out.push(`expected open ${o.expected.join(",")} but no host was up`);
    for (const h of hosts) {
      const open = new Set(h.ports.filter((p) => p.proto === "tcp").map((p) => p.port));
      const missing = o.expected.filter((p) => !open.has(p));
      if (missing.length) out.push(`${h.ip}: expected open but not found: ${missing.join(",")}`);
      if (o.failOnNew) {
        const extra = h.ports.filter((p) => !(p.proto === "tcp" && want.has(p.port))).map((p) => `${p.port}/${p.proto}`);
        if (extra.length) out.push(`${h.ip}: open but not expected: ${extra.join(",")}`);
      }
    }
  } else if (o.failOnNew) {
    for (const h of hosts) {
      const extra = h.ports.filter((p) => !o.before.has(`${h.ip} ${p.proto}/${p.port}`)).map((p) => `${p.port}/${p.proto}`);
      if (extra.length) out.push(`${h.ip}: new open ports: ${extra.join(",")}`);
    }
  }
  return out;
}
