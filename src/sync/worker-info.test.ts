import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ledger } from "../scan/ledger.ts";
import { collectRecord, sendInfo, type InfoMessage } from "./worker-info.ts";

const tmp = mkdtempSync(join(tmpdir(), "falc-sync-info-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const host = (ip: string, ports: number[], product = "x") => ({ status: "up" as const, ip, addrtype: "ipv4" as const, hostnames: [], ports: ports.map((port) => ({ proto: "tcp" as const, port, state: "open", service: "http", product })) });

describe("worker info", () => {
  test("ledger rows go up in chunks and are marked synced only after each ack", async () => {
    const ledger = Ledger.open(join(tmp, "h1"));
    ledger.importHosts("p", [host("10.0.0.1", [80, 443]), host("10.0.0.2", [22, 25, 53])], "update");
    const record = await collectRecord({ stages: ["scan"], counts: { scan: 2 } });
    expect(record).toMatchObject({ stages: ["scan"], counts: { scan: 2 }, queue: null });

    // The master fails on the second chunk: the first chunk stays synced, the rest stays pending.
    const sent: InfoMessage[] = [];
    let calls = 0;
    const failing = async (m: InfoMessage) => {
      if (++calls === 2) throw new Error("connection lost");
      sent.push(m);
    };
    await expect(sendInfo(failing, record, ledger, 2)).rejects.toThrow("connection lost");
    expect(sent[0]!.record).toBeDefined();
    expect(sent[0]!.rows.length).toBe(2);
    expect(ledger.pendingSync(100).rows.length).toBe(3);

    // Next time everything left goes, then nothing is pending.
    const sent2: InfoMessage[] = [];
    const r = await sendInfo(async (m) => void sent2.push(m), record, ledger, 2);
    expect(r.rows).toBe(3);
    expect(sent2.flatMap((m) => m.rows).map((x) => x.port).sort((a, b) => a - b)).toEqual([22, 25, 53]);
    expect(ledger.pendingSync(100).rows).toEqual([]);

    // A port that changes again is marked for sync again; `falc scan` results are untouched by the cursor.
    ledger.importHosts("p", [host("10.0.0.1", [80], "nginx")], "update");
    expect(ledger.pendingSync(100).rows.map((x) => [x.ip, x.port, x.product])).toEqual([["10.0.0.1", 80, "nginx"]]);
    expect(ledger.hosts("p").length).toBe(2);
    ledger.close();
  });
});
