import { z } from "zod";
import { ago as tableAgo } from "../cli/table.ts";

/**
 * What `falc sync status` shows, as the master builds it: the master, then every node it has seen
 * with its connection state, last integrity sync and last worker-info send.
 */
const lastSync = z
  .object({
    at: z.number(),
    durationMs: z.number(),
    ok: z.boolean(),
    error: z.string().nullable(),
  })
  .passthrough();

export const statusNodeSchema = z.object({
  name: z.string(),
  state: z.enum(["connected", "disconnected"]),
  address: z.string().nullable(),
  version: z.string().nullable(),
  connectedAt: z.number().nullable(),
  lastSeen: z.number().nullable(),
  groups: z.array(z.string()),
  lastIntegrity: lastSync.nullable(),
  lastInfo: lastSync.nullable(),
  /** The last failed sync kept in the history, even when later ones went well. */
  lastError: z.object({ at: z.number(), kind: z.string(), error: z.string() }).nullable().default(null),
  ports: z.number().int(),
  record: z.record(z.string(), z.unknown()).nullable(),
});
export type StatusNode = z.infer<typeof statusNodeSchema>;

export const statusSchema = z.object({
  at: z.number(),
  master: z.object({
    name: z.string(),
    cluster: z.string(),
    version: z.string(),
    listen: z.string(),
    dir: z.string(),
    files: z.number().int(),
    bytes: z.number(),
    scannedAt: z.number().nullable(),
    /** Entries of the master's tree that are not synced (names breaking the path rules, fifos, sockets, devices). */
    refused: z.array(z.object({ path: z.string(), why: z.string() })).default([]),
    refusedCount: z.number().int().default(0),
  }),
  nodes: z.array(statusNodeSchema),
  groupsHash: z.string(),
  via: z.string().optional(),
});
export type StatusDoc = z.infer<typeof statusSchema>;

const ago = (now: number, t: number | null) => (t ? tableAgo(t, now) : "never");

const ms = (d: number) => (d < 1000 ? `${Math.round(d)}ms` : `${(d / 1000).toFixed(1)}s`);

export function integrityCell(now: number, s: StatusNode["lastIntegrity"]): string {
  if (!s) return "never";
  const r = s as Record<string, unknown>;
  const counts = `+${r.missing ?? 0} ~${r.shared ?? 0} -${r.extra ?? 0}`;
  return `${ago(now, s.at)} in ${ms(s.durationMs)} ${s.ok ? counts : "FAILED: " + (s.error ?? "")}`;
}

export function infoCell(now: number, s: StatusNode["lastInfo"]): string {
  if (!s) return "never";
  const r = s as Record<string, unknown>;
  return `${ago(now, s.at)} in ${ms(s.durationMs)} ${s.ok ? `${r.rows ?? 0} rows` : "FAILED"}`;
}

/** Rows for src/cli/table.ts. */
export function statusRows(doc: StatusDoc): string[][] {
  const now = doc.at;
  return doc.nodes.map((n) => [n.name, n.state, n.address ?? "-", integrityCell(now, n.lastIntegrity), infoCell(now, n.lastInfo), refusedCell(n), errorCell(now, n.lastError), n.groups.join(",") || "-", ago(now, n.lastSeen)]);
}

export const STATUS_HEADER = ["NODE", "STATE", "ADDRESS", "LAST INTEGRITY", "LAST INFO", "REFUSED", "LAST ERROR", "GROUPS", "SEEN"];

/** Entries of the node's own tree it leaves alone, from its last integrity sync: how many, and the first by name. */
export function refusedCell(n: StatusNode): string {
  const r = n.lastIntegrity as Record<string, unknown> | null;
  const count = typeof r?.refused_count === "number" ? r.refused_count : 0;
  if (!count) return "-";
  const first = Array.isArray(r?.refused) ? (r.refused[0] as { path?: string } | undefined)?.path : undefined;
  return first ? `${count} (${first}${count > 1 ? ", …" : ""})` : String(count);
}

export function errorCell(now: number, e: StatusNode["lastError"]): string {
  return e ? `${ago(now, e.at)}: ${e.error.slice(0, 120)}` : "-";
}

/** What the TUI's sync view draws, per node: state, last integrity sync, the entries it refuses, its last error. */
export function toSyncNodes(doc: StatusDoc): SyncNodeRow[] {
  return doc.nodes.map((n) => {
    const r = n.lastIntegrity as Record<string, unknown> | null;
    const refused = Array.isArray(r?.refused) ? (r.refused as { path: string; why: string }[]) : [];
    const refusedCount = typeof r?.refused_count === "number" ? r.refused_count : refused.length;
    return {
      name: n.name,
      state: n.state,
      lastSyncAt: n.lastIntegrity?.at ?? null,
      refused,
      refusedCount,
      lastError: n.lastError ? { at: n.lastError.at, error: n.lastError.error } : null,
    };
  });
}

export interface SyncNodeRow {
  name: string;
  state: string;
  lastSyncAt: number | null;
  refused: { path: string; why: string }[];
  refusedCount: number;
  lastError: { at: number; error: string } | null;
}
