import { readFileSync, realpathSync } from "node:fs";
import { hostname } from "node:os";
import type { Config } from "./config.ts";

/**
 * A node's stable identity in a cluster: `node:` in falc.yaml (or FALC_NODE), else the host name plus a
 * short hash of FALC_HOME, so two falc homes on one machine, or machines cloned with one host name, stay
 * apart. Shown in worker names (`pre0@<node>:<pid>`), `falc tasks workers`, the TUI and /health.
 */
export const NODE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function nodeId(cfg: Pick<Config, "home"> & { node?: string }): string {
  if (cfg.node) return cfg.node;
  const h = new Bun.CryptoHasher("sha256").update(canonicalHome(cfg.home)).digest("hex").slice(0, 6);
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 56) || "host";
  return `${host}-${h}`;
}

function canonicalHome(home: string): string {
  try {
    return realpathSync(home);
  } catch {
    return home;
  }
}

/**
 * What tells two holders of one node id apart: the machine (machine-id, host name) and its FALC_HOME.
 * Handlers of one node (several `falc worker` on one machine and home) share it; another machine does not.
 */
export function nodeFingerprint(home: string): string {
  let machine = "";
  try {
    machine = readFileSync("/etc/machine-id", "utf8").trim();
  } catch {}
  return new Bun.CryptoHasher("sha256").update(`${machine}|${hostname()}|${canonicalHome(home)}`).digest("hex").slice(0, 16);
}
