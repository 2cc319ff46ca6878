import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { VERSION } from "../core/version.ts";
import type { Ledger, SyncPortRow } from "../scan/ledger.ts";
import type { Queue } from "../queue/types.ts";

/**
 * Worker info up, Wazuh's agent-info: the node's record (version, stages and their child counts,
 * worker states, queue counts) and the scan ledger rows changed since the last acknowledged send,
 * in chunks. The ledger's sync cursor only moves after the master has acked a chunk.
 */
export const INFO_CHUNK = 500;

const portRow = z
  .object({
    project: z.string().min(1).max(64),
    ip: z.string().min(1).max(64),
    proto: z.string().min(1).max(8),
    port: z.number().int().min(0).max(65535),
    state: z.string().min(1).max(32),
    service: z.string().max(200).nullable().optional(),
    product: z.string().max(500).nullable().optional(),
    version: z.string().max(500).nullable().optional(),
    extrainfo: z.string().max(500).nullable().optional(),
    lastSeen: z.number(),
  })
  .strict();

const workerState = z.object({ name: z.string().max(200), stage: z.string().max(64), state: z.string().max(32), taskId: z.string().max(100).nullable() }).strict();

export const nodeRecordSchema = z
  .object({
    version: z.string().max(40),
    host: z.string().max(255),
    pid: z.number().int(),
    at: z.number(),
    stages: z.array(z.string().max(64)).max(200),
    counts: z.record(z.string().max(64), z.number().int()),
    workers: z.array(workerState).max(2000),
    queue: z.record(z.string().max(64), z.record(z.string().max(32), z.number().int())).nullable(),
    queueUrl: z.string().max(500).nullable(),
    error: z.string().max(500).nullable(),
  })
  .strict();
export type NodeRecord = z.infer<typeof nodeRecordSchema>;

export const infoSchema = z.object({ record: nodeRecordSchema.optional(), rows: z.array(portRow).max(10_000) }).strict();
export type InfoMessage = z.infer<typeof infoSchema>;

export interface RecordInputs {
  stages: string[];
  counts: Record<string, number>;
  queue?: () => Promise<Queue>;
}

/** The node record; a queue that cannot be read is reported, not fatal. */
export async function collectRecord(inp: RecordInputs): Promise<NodeRecord> {
  const rec: NodeRecord = { version: VERSION, host: hostname(), pid: process.pid, at: Date.now(), stages: inp.stages, counts: inp.counts, workers: [], queue: null, queueUrl: null, error: null };
  if (!inp.queue) return rec;
  try {
    const q = await inp.queue();
    rec.queueUrl = q.url;
    rec.queue = (await q.stats()) as Record<string, Record<string, number>>;
    rec.workers = (await q.listWorkers()).slice(0, 2000).map((w) => ({ name: w.name, stage: w.stage, state: w.state, taskId: w.taskId }));
  } catch (e) {
    rec.error = `queue: ${(e as Error).message.split("\n")[0]}`.slice(0, 500);
  }
  return rec;
}

/**
 * The worker's scan ledger, opened only if it exists (a node that never scanned has no rows); its
 * module is loaded only then too, so a sync worker's start-up does not pay for it.
 */
export async function openLedger(home: string): Promise<Ledger | null> {
  if (!existsSync(join(home, "scan", "ledger.sqlite"))) return null;
  const { Ledger } = await import("../scan/ledger.ts");
  return Ledger.open(home);
}

/**
 * Send the record and every pending ledger row, a chunk per request. `send` resolves when the
 * master acked; a chunk is marked synced only then, so a lost connection means it is sent again.
 */
export async function sendInfo(send: (m: InfoMessage) => Promise<void>, record: NodeRecord, ledger: Ledger | null, chunk = INFO_CHUNK): Promise<{ rows: number; chunks: number }> {
  let rows = 0;
  let chunks = 0;
  let first = true;
  for (;;) {
    const pending = ledger ? ledger.pendingSync(chunk) : { rows: [] as SyncPortRow[], upTo: 0 };
    if (!first && pending.rows.length === 0) break;
    await send(first ? { record, rows: pending.rows } : { rows: pending.rows });
    first = false;
    chunks++;
    if (pending.rows.length === 0) break;
    ledger!.markSynced(pending.upTo);
    rows += pending.rows.length;
  }
  return { rows, chunks };
}
