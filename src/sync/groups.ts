import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { writeFileAtomic } from "../core/atomic.ts";
import { NODE_NAME_RE } from "./protocol.ts";

/**
 * Groups down, Wazuh's agent-groups: the master assigns nodes to groups (which stages and scan
 * profiles a node serves) and pushes the changes with a hash of the whole table; a worker that
 * keeps disagreeing with that hash asks for the full table after `mismatch_limit` pushes.
 */
export const GROUP_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export type Assignments = Record<string, string[]>;

export const groupDefSchema = z.object({ stages: z.array(z.string().min(1).max(64)).default([]), profiles: z.array(z.string().min(1).max(200)).default([]) }).strict();
export type GroupDef = z.infer<typeof groupDefSchema>;

const name = z.string().regex(NODE_NAME_RE);
const group = z.string().regex(GROUP_RE);
export const groupsPushSchema = z
  .object({
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    full: z.boolean(),
    set: z.record(name, z.array(group).max(1000)),
    removed: z.array(name).max(100_000),
    definitions: z.record(group, groupDefSchema),
  })
  .strict();
export type GroupsPush = z.infer<typeof groupsPushSchema>;

/** Nodes with no group are left out, so "no groups" and "absent" hash alike. */
export function normalize(a: Assignments): Assignments {
  const out: Assignments = {};
  for (const n of Object.keys(a).sort()) {
    const g = [...new Set(a[n])].sort();
    if (g.length) out[n] = g;
  }
  return out;
}

export function groupsHash(a: Assignments): string {
  const h = new Bun.CryptoHasher("blake2b256");
  h.update(JSON.stringify(Object.entries(normalize(a))));
  return h.digest("hex");
}

/** What changed from `sent` (what this worker was last told) to `now`. */
export function groupsDelta(sent: Assignments | null, now: Assignments): { set: Assignments; removed: string[]; full: boolean } {
  const cur = normalize(now);
  if (!sent) return { set: cur, removed: [], full: true };
  const set: Assignments = {};
  for (const [n, g] of Object.entries(cur)) if (JSON.stringify(sent[n] ?? []) !== JSON.stringify(g)) set[n] = g;
  const removed = Object.keys(sent).filter((n) => !cur[n]);
  return { set, removed, full: false };
}

export interface GroupsFile {
  node: string;
  /** This node's own groups, for the processes on it. */
  groups: string[];
  assignments: Assignments;
  definitions: Record<string, GroupDef>;
  hash: string;
  updatedAt: number;
}

const fileSchema = z.object({
  node: z.string(),
  groups: z.array(z.string()),
  assignments: z.record(z.string(), z.array(z.string())),
  definitions: z.record(z.string(), groupDefSchema),
  hash: z.string(),
  updatedAt: z.number(),
});

/**
 * The worker's copy of the table, kept in FALC_HOME/sync/groups.json and read back at every push,
 * so what the node's processes see is what is compared.
 */
export class WorkerGroups {
  mismatches = 0;

  constructor(
    readonly path: string,
    readonly node: string,
  ) {}

  read(): GroupsFile | null {
    if (!existsSync(this.path)) return null;
    try {
      const r = fileSchema.safeParse(JSON.parse(readFileSync(this.path, "utf8")));
      return r.success ? r.data : null;
    } catch {
      return null;
    }
  }

  /**
   * Apply one push. Returns "ok", "mismatch" (hash differs, below the limit) or "resync" (limit
   * reached: the caller fetches the full table and calls `apply` with it).
   */
  apply(p: GroupsPush, limit: number): { result: "ok" | "mismatch" | "resync"; changed: boolean; file: GroupsFile } {
    const cur = this.read();
    const before = normalize(cur?.assignments ?? {});
    let next: Assignments;
    if (p.full) next = p.set;
    else {
      next = { ...before };
      for (const n of p.removed) delete next[n];
      Object.assign(next, p.set);
    }
    next = normalize(next);
    const file: GroupsFile = {
      node: this.node,
      groups: next[this.node] ?? [],
      assignments: next,
      definitions: p.definitions,
      hash: groupsHash(next),
      updatedAt: Date.now(),
    };
    const changed = JSON.stringify(before) !== JSON.stringify(next) || JSON.stringify(cur?.definitions ?? {}) !== JSON.stringify(p.definitions) || !cur;
    if (changed || cur?.hash !== file.hash) writeFileAtomic(this.path, JSON.stringify(file, null, 2) + "\n");
    if (file.hash === p.hash) {
      this.mismatches = 0;
      return { result: "ok", changed, file };
    }
    this.mismatches++;
    if (this.mismatches >= limit) {
      this.mismatches = 0;
      return { result: "resync", changed, file };
    }
    return { result: "mismatch", changed, file };
  }
}
