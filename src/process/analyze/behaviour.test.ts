import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { behaviourOf } from "./behaviour.ts";
import type { BehaviourEvent } from "./events.ts";

const root = mkdtempSync(join(tmpdir(), "falc-behaviour-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A task dir with events split over two files (as two monitors would write them) plus junk lines. */
export function writeTask(name: string, files: Record<string, (BehaviourEvent | string)[]>): string {
  const dir = join(root, name);
  mkdirSync(join(dir, "events"), { recursive: true });
  for (const [f, lines] of Object.entries(files)) writeFileSync(join(dir, "events", f), lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  return dir;
}

const WORD = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE";

describe("behaviour summary", () => {
  test("process list and tree, files, registry, network, mutexes, injections; bad lines counted", () => {
    const dir = writeTask("t1", {
      "proc.json": [
        { ts: 1, type: "process", action: "create", pid: 100, ppid: 4, image: "C:\\Windows\\explorer.exe", cmdline: "explorer.exe" },
        { ts: 2, type: "process", action: "create", pid: 200, ppid: 100, image: WORD, cmdline: `"${WORD}" /n invoice.docm` },
        { ts: 3, type: "process", action: "create", pid: 300, ppid: 200, image: "C:\\Windows\\System32\\cmd.exe", cmdline: "cmd.exe /c powershell -enc SQBFAFgA" },
        "{not json",
        { ts: 3.5, type: "process", action: "create", pid: 301, ppid: 300, image: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", cmdline: "powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA" },
        { ts: 9, type: "process", action: "terminate", pid: 300 },
        { ts: 9.5, type: "process", action: "inject", pid: 301, target_pid: 100 },
      ],
      "io.json": [
        { ts: 4, type: "file", action: "write", pid: 301, path: "C:\\Users\\a\\AppData\\Roaming\\upd.exe" },
        { ts: 4.1, type: "file", action: "write", pid: 301, path: "C:\\Users\\a\\AppData\\Roaming\\upd.exe" },
        { ts: 4.2, type: "file", action: "read", pid: 200, path: "C:\\Users\\a\\invoice.docm" },
        { ts: 4.3, type: "file", action: "delete", pid: 301, path: "C:\\Users\\a\\invoice.docm" },
        { ts: 4.4, type: "file", action: "rename", pid: 301, path: "C:\\a.tmp", dest_path: "C:\\a.dll" },
        { ts: 5, type: "registry", action: "set", pid: 301, key: "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run", value: "upd", data: "C:\\Users\\a\\AppData\\Roaming\\upd.exe" },
        { ts: 5.1, type: "registry", action: "delete", pid: 301, key: "HKCU\\Software\\x", value: "y" },
        { ts: 6, type: "network", action: "dns", pid: 301, domain: "C2.Example.NET" },
        { ts: 6.1, type: "network", action: "connect", pid: 301, dst: "203.0.113.5", port: 443, proto: "tcp" },
        { ts: 6.2, type: "network", action: "listen", pid: 301, port: 4444 },
        { ts: 7, type: "mutex", action: "create", pid: 301, name: "Global\\falc-mutex" },
        '{"ts": 8, "type": "file", "action": "explode", "pid": 1, "path": "x"}',
        '{"ts": -1, "type": "process", "action": "create", "pid": 1}',
        '{"ts": 8, "type": "weather", "action": "rain", "pid": 1}',
      ],
    });
    const b = behaviourOf(dir);
    expect(b.stats.events).toBe(17);
    expect(b.stats.bad_lines).toBe(4);
    expect(b.stats.files).toBe(2);
    expect(b.bad_lines[0]).toMatchObject({ file: "io.json" });
    expect(b.bad_lines.map((x) => `${x.file}:${x.line}`)).toEqual(["io.json:12", "io.json:13", "io.json:14", "proc.json:4"]);
    const names = b.processes.process_list.map((p) => [p.procid, p.pid, p.name, p.parent_procid]);
    // pid 4 (System) is known only as a parent: it gets an entry so the tree has a root.
    expect(names).toEqual([[1, 4, "", null], [2, 100, "explorer.exe", 1], [3, 200, "WINWORD.EXE", 2], [4, 300, "cmd.exe", 3], [5, 301, "powershell.exe", 4]]);
    expect(b.processes.process_list.find((p) => p.pid === 300)).toMatchObject({ state: "terminated", end_ts: 9 });
    const chain: string[] = [];
    for (let n = b.process_tree[0]; n; n = n.children[0]) chain.push(n.name || String(n.pid));
    expect(chain).toEqual(["4", "explorer.exe", "WINWORD.EXE", "cmd.exe", "powershell.exe"]);
    expect(b.files.written).toEqual(["C:\\Users\\a\\AppData\\Roaming\\upd.exe"]);
    expect(b.files.read).toEqual(["C:\\Users\\a\\invoice.docm"]);
    expect(b.files.deleted).toEqual(["C:\\Users\\a\\invoice.docm"]);
    expect(b.files.renamed).toEqual([{ from: "C:\\a.tmp", to: "C:\\a.dll" }]);
    expect(b.registry.set[0]).toMatchObject({ value: "upd" });
    expect(b.registry.deleted).toEqual(["HKCU\\Software\\x\\y"]);
    expect(b.network.dns).toEqual(["c2.example.net"]);
    expect(b.network.connections).toEqual([{ pid: 301, process: "powershell.exe", dst: "203.0.113.5", port: 443, proto: "tcp" }]);
    expect(b.network.listening).toEqual([{ pid: 301, process: "powershell.exe", port: 4444, proto: "tcp" }]);
    expect(b.mutexes).toEqual(["Global\\falc-mutex"]);
    expect(b.injections).toEqual([{ pid: 301, process: "powershell.exe", target_pid: 100, target: "explorer.exe" }]);
  });

  test("pid reuse: a new process with a recycled pid gets its own procid and parent", () => {
    const dir = writeTask("reuse", {
      "e.json": [
        { ts: 1, type: "process", action: "create", pid: 10, ppid: 1, image: "/bin/sh" },
        { ts: 2, type: "process", action: "terminate", pid: 10 },
        { ts: 3, type: "process", action: "create", pid: 10, ppid: 1, image: "/usr/bin/curl" },
        { ts: 4, type: "process", action: "create", pid: 11, ppid: 10, image: "/tmp/x" },
      ],
    });
    const b = behaviourOf(dir);
    expect(b.processes.process_list.map((p) => [p.pid, p.name, p.parent_procid])).toEqual([[1, "", null], [10, "sh", 1], [10, "curl", 1], [11, "x", 3]]);
  });

  test("no events directory and empty files give an empty summary", () => {
    const dir = join(root, "none");
    mkdirSync(dir);
    const b = behaviourOf(dir);
    expect(b.stats).toMatchObject({ events: 0, bad_lines: 0, files: 0 });
    expect(b.processes.count).toBe(0);
  });
});
