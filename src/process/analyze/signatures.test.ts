import { beforeAll, describe, expect, test } from "bun:test";
import type { BehaviourSummary } from "./behaviour.ts";
import type { NetworkSummary } from "./network.ts";
import { parsePe } from "./pe.ts";
import { type Samples, samples } from "../../../test/process/samples.ts";
import { behaviourSignatures, staticSignatures } from "./signatures.ts";
import { extractStrings } from "./strings.ts";

let s: Samples;
beforeAll(async () => {
  s = await samples();
}, 60000);

const emptyBehaviour = (): BehaviourSummary => ({
  processes: { count: 0, process_list: [] },
  process_tree: [],
  files: { created: [], written: [], read: [], deleted: [], renamed: [] },
  registry: { set: [], created: [], read: [], deleted: [] },
  network: { connections: [], listening: [], dns: [] },
  mutexes: [],
  injections: [],
  stats: { events: 0, by_type: {}, bad_lines: 0, files: 0, truncated: false },
  bad_lines: [],
});

const emptyNetwork = (): NetworkSummary => ({ host: [], domain: [], dns: { query: [], response: [] }, tcp: [], udp: [], http: [], tls: [], stats: { packets: 0, decoded: 0, ignored: 0, flows: 0, damaged: false, truncated: false } });

const proc = (procid: number, name: string, parent: number | null, commandline = "") => ({ procid, pid: procid * 4, ppid: null, parent_procid: parent, image: `C:\\x\\${name}`, name, commandline, state: "running" as const, start_ts: procid, end_ts: null, tracked: true });

describe("signatures", () => {
  test("static: the injection sample's imports, its autorun string and URLs", async () => {
    expect(s.pe64).toBeDefined();
    const buf = await Bun.file(s.pe64!).bytes();
    const sigs = staticSignatures({ static: { pe: parsePe(buf) }, strings: extractStrings(buf) });
    const byName = Object.fromEntries(sigs.map((x) => [x.name, x]));
    expect(byName.pe_process_injection_imports?.score).toBe(8);
    expect(byName.pe_process_injection_imports?.iocs).toEqual(expect.arrayContaining(["KERNEL32.dll!VirtualAllocEx", "KERNEL32.dll!WriteProcessMemory", "KERNEL32.dll!CreateRemoteThread"]));
    expect(byName.strings_autorun_key?.score).toBe(6);
    expect(byName.strings_urls?.score).toBe(1);
    expect(byName.pe_packed_section).toBeUndefined();
    // The DLL has none of it.
    expect(s.dll).toBeDefined();
    {
      const dll = await Bun.file(s.dll!).bytes();
      expect(staticSignatures({ static: { pe: parsePe(dll) }, strings: extractStrings(dll) }).map((x) => x.name)).toEqual([]);
    }
  });

  test("static: packed sections, UPX names, zero/future timestamps, macros", async () => {
    expect(s.pe64).toBeDefined();
    const pe = parsePe(await Bun.file(s.pe64!).bytes());
    pe.pe_sections[0] = { ...pe.pe_sections[0]!, name: "UPX1", entropy: 7.9, size_of_data: "0x00010000" };
    pe.pe_headers.timestamp = 0;
    const names = staticSignatures({ static: { pe, office: { app: "word", macros: true } } }).map((x) => [x.name, x.score]);
    expect(names).toEqual(expect.arrayContaining([["pe_packed_section", 6], ["pe_upx_sections", 6], ["pe_suspicious_timestamp", 1], ["office_macros", 6]]));
  });

  test("behaviour: office spawning a shell, autorun, dropped executable, shadow copies, injection, persistence", () => {
    const b = emptyBehaviour();
    b.processes.process_list = [proc(1, "WINWORD.EXE", null), proc(2, "cmd.exe", 1, "cmd /c vssadmin delete shadows /all /quiet"), proc(3, "powershell.exe", 2, "powershell -nop -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA"), proc(4, "schtasks.exe", 2, "schtasks /Create /SC minute /TN x /TR c:\\x.exe")];
    b.registry.set = [{ key: "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run", value: "x", data: "c:\\x.exe" }];
    b.files.written = ["C:\\Users\\a\\AppData\\Local\\Temp\\x.exe", "C:\\Users\\a\\notes.txt", "/etc/cron.d/evil"];
    b.injections = [{ pid: 12, process: "powershell.exe", target_pid: 4, target: "explorer.exe" }];
    const sigs = behaviourSignatures({ behaviour: b });
    const got = Object.fromEntries(sigs.map((x) => [x.name, x.score]));
    expect(got).toEqual({
      autorun_registry: 8,
      drops_executable: 6,
      office_spawns_shell: 9,
      shadow_copy_deletion: 9,
      scheduled_task_creation: 6,
      suspicious_powershell: 8,
      process_injection: 8,
      linux_persistence: 8,
    });
    expect(sigs.find((x) => x.name === "office_spawns_shell")!.iocs).toEqual([{ parent: "WINWORD.EXE", process: "cmd.exe", commandline: "cmd /c vssadmin delete shadows /all /quiet" }]);
    expect(sigs.find((x) => x.name === "drops_executable")!.iocs).toEqual(["C:\\Users\\a\\AppData\\Local\\Temp\\x.exe"]);
    expect(sigs.every((x) => x.ttps!.length > 0)).toBe(true);
  });

  test("network: raw-IP connections (not loopback, not resolved), HTTP to an IP, many domains", () => {
    const n = emptyNetwork();
    n.dns.query = Array.from({ length: 12 }, (_, i) => ({ ts: i, srcip: "10.0.0.5", srcport: 5000, dstip: "10.0.0.1", dstport: 53, type: "A", name: `h${i}.dga.example` }));
    n.dns.response = [{ ts: 1, srcip: "10.0.0.1", srcport: 53, dstip: "10.0.0.5", dstport: 5000, type: "A", name: "h1.dga.example", data: "198.51.100.1" }];
    n.tcp = [
      { ts: 2, srcip: "10.0.0.5", srcport: 5001, dstip: "198.51.100.1", dstport: 443, tx_size: 1, rx_size: 1 },
      { ts: 3, srcip: "10.0.0.5", srcport: 5002, dstip: "203.0.113.9", dstport: 80, tx_size: 1, rx_size: 1 },
      { ts: 4, srcip: "127.0.0.1", srcport: 5003, dstip: "127.0.0.1", dstport: 8080, tx_size: 1, rx_size: 1 },
    ];
    n.http = [{ ts: 3, srcip: "10.0.0.5", srcport: 5002, dstip: "203.0.113.9", dstport: 80, request: { version: "1.1", url: "http://203.0.113.9/gate", protocol: "http", method: "GET", host: null, path: "/gate", user_agent: null, headers: [], length: 0 } }];
    const sigs = behaviourSignatures({ network: n });
    const got = Object.fromEntries(sigs.map((x) => [x.name, x]));
    expect(got.connects_raw_ip?.iocs).toEqual([{ dst: "203.0.113.9", port: 80 }]);
    expect(got.http_request_raw_ip?.iocs).toEqual(["http://203.0.113.9/gate"]);
    expect(got.many_dns_domains?.score).toBe(6);
    expect(got.http_requests?.score).toBe(1);
    expect(behaviourSignatures({ network: n, manyDomains: 50 }).some((x) => x.name === "many_dns_domains")).toBe(false);
    expect(behaviourSignatures({ behaviour: emptyBehaviour(), network: emptyNetwork() })).toEqual([]);
  });
});
