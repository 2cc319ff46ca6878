import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FalcError } from "./errors.ts";
import { openStore, schemaVersion, type Migration } from "./store.ts";

const dir = () => mkdtempSync(join(tmpdir(), "falc-store-"));
const v1: Migration = { version: 1, name: "items", up: "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT)" };
const v2: Migration = { version: 2, name: "items.note", up: "ALTER TABLE items ADD COLUMN note TEXT" };

describe("openStore", () => {
  test("sets busy_timeout, WAL and the schema version", () => {
    const db = openStore(join(dir(), "a.sqlite"), { name: "test", migrations: [v1, v2] });
    expect((db.query("PRAGMA busy_timeout").get() as { timeout: number }).timeout).toBe(10_000);
    expect((db.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
    expect(schemaVersion(db)).toBe(2);
    db.query("INSERT INTO items (name, note) VALUES ('a', 'b')").run();
    db.close();
  });

  test("a file written before versioning (user_version 0) opens and is migrated forward", () => {
    const path = join(dir(), "old.sqlite");
    const old = new Database(path, { create: true });
    old.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items (name) VALUES ('kept');");
    old.close();
    const db = openStore(path, { name: "test", migrations: [v1, v2] });
    expect(db.query("SELECT name, note FROM items").all()).toEqual([{ name: "kept", note: null }]);
    expect(schemaVersion(db)).toBe(2);
    db.close();
  });

  test("each migration runs once across reopenings", async () => {
    const path = join(dir(), "race.sqlite");
    let runs = 0;
    const counting: Migration = { version: 1, name: "count", up: (db) => { runs++; db.exec("CREATE TABLE t (x)"); } };
    openStore(path, { name: "test", migrations: [counting] }).close();
    openStore(path, { name: "test", migrations: [counting] }).close();
    expect(runs).toBe(1);
  });

  test("a file from a newer falc is refused with exit 2 and the file named", () => {
    const path = join(dir(), "new.sqlite");
    const db = new Database(path, { create: true });
    db.exec("PRAGMA user_version = 9");
    db.close();
    let err: unknown;
    try { openStore(path, { name: "test", migrations: [v1] }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(FalcError);
    expect((err as FalcError).exitCode).toBe(2);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toContain("newer falc");
  });

  test("a corrupt file is one line naming the file, exit 2", () => {
    const path = join(dir(), "corrupt.sqlite");
    writeFileSync(path, Buffer.alloc(8192, 0x41));
    let err: unknown;
    try { openStore(path, { name: "scan ledger", migrations: [v1] }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(FalcError);
    expect((err as FalcError).exitCode).toBe(2);
    expect((err as Error).message).toContain(`scan ledger database ${path}`);
    expect((err as Error).message).not.toContain("\n");
  });

  test("a failed migration leaves the version where it was", () => {
    const path = join(dir(), "fail.sqlite");
    openStore(path, { name: "test", migrations: [v1] }).close();
    const bad: Migration = { version: 2, name: "bad", up: "ALTER TABLE nosuch ADD COLUMN x" };
    expect(() => openStore(path, { name: "test", migrations: [v1, bad] })).toThrow(/migration 2 \(bad\) failed/);
    const db = new Database(path);
    expect(schemaVersion(db)).toBe(1);
    db.close();
  });

  test("migrations must be numbered 1..n", () => {
    expect(() => openStore(":memory:", { name: "test", migrations: [v2] })).toThrow(/expected 1/);
  });
});
