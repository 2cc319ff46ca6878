/**
 * The built-in signatures: small, explainable rules over static, strings, behaviour and network results,
 * scored with Cuckoo3's levels (1 informational, 6 suspicious, 8 likely malicious, 9 malicious,
 * 10 known bad). Each returns what made it trigger in `iocs` (capped).
 */
import type { ScoreLevel, Signature } from "../plugin.ts";
import type { BehaviourSummary } from "./behaviour.ts";
import type { ElfInfo } from "./elf.ts";
import type { NetworkSummary } from "./network.ts";
import type { PeInfo } from "./pe.ts";
import type { StringsResult } from "./strings.ts";

const MAX_IOCS = 20;

function sig(score: ScoreLevel, name: string, short_description: string, iocs: unknown[], extra: Partial<Signature> = {}): Signature {
  return { name, short_description, description: extra.description ?? short_description, score, iocs: iocs.slice(0, MAX_IOCS), ttps: extra.ttps ?? [], tags: extra.tags ?? [], ...(extra.family ? { family: extra.family } : {}) };
}

export interface StaticInput {
  static?: { pe?: PeInfo; elf?: ElfInfo; office?: { app: string; macros: boolean } };
  strings?: StringsResult;
  /** For "now" in timestamp checks (tests pin it). */
  now?: number;
}

const INJECTION_WRITE = ["VirtualAllocEx", "WriteProcessMemory"];
const INJECTION_EXEC = ["CreateRemoteThread", "CreateRemoteThreadEx", "NtCreateThreadEx", "RtlCreateUserThread", "QueueUserAPC", "SetThreadContext"];
const ANTI_DEBUG = ["IsDebuggerPresent", "CheckRemoteDebuggerPresent", "NtQueryInformationProcess", "OutputDebugStringA"];

export function staticSignatures(input: StaticInput): Signature[] {
  const out: Signature[] = [];
  const pe = input.static?.pe;
  if (pe) {
    const packed = pe.pe_sections.filter((s) => s.entropy > 7.2 && parseInt(s.size_of_data, 16) >= 1024);
    if (packed.length)
      out.push(sig(6, "pe_packed_section", "A section has very high entropy (packed or encrypted code)", packed.map((s) => ({ section: s.name, entropy: s.entropy })), { ttps: ["T1027.002"], tags: ["packer"] }));
    const names = new Set(pe.pe_sections.map((s) => s.name));
    if (names.has("UPX0") || names.has("UPX1")) out.push(sig(6, "pe_upx_sections", "Packed with UPX (UPX0/UPX1 sections)", ["UPX0", "UPX1"].filter((n) => names.has(n)), { ttps: ["T1027.002"], tags: ["packer"] }));
    const imported = new Map<string, string>();
    for (const d of pe.pe_imports) for (const f of d.imports) if (f.name) imported.set(f.name.replace(/[AW]$/, ""), `${d.dll}!${f.name}`);
    const has = (n: string) => imported.has(n);
    if (INJECTION_WRITE.every(has) && INJECTION_EXEC.some(has))
      out.push(sig(8, "pe_process_injection_imports", "Imports the functions to write code into another process and run it", [...INJECTION_WRITE, ...INJECTION_EXEC].filter(has).map((n) => imported.get(n)), { ttps: ["T1055"], tags: ["injection"] }));
    if (has("SetWindowsHookEx") && (has("GetAsyncKeyState") || has("GetKeyState") || has("GetKeyboardState")))
      out.push(sig(6, "pe_keylogger_imports", "Imports keyboard hooking and key state functions (keylogger)", ["SetWindowsHookEx", "GetAsyncKeyState", "GetKeyState", "GetKeyboardState"].filter(has).map((n) => imported.get(n)), { ttps: ["T1056.001"], tags: ["keylogger"] }));
    const anti = ANTI_DEBUG.filter(has);
    if (anti.length) out.push(sig(1, "pe_antidebug_imports", "Imports debugger detection functions", anti.map((n) => imported.get(n)), { ttps: ["T1622"] }));
    // EFI images have no imports by design (firmware hands them a system table), so it says nothing there.
    const efi = /EFI/.test(pe.pe_headers.subsystem);
    if (!pe.pe_headers.dll && !efi && pe.pe_imports.length === 0) out.push(sig(6, "pe_no_imports", "An executable without imports (resolves its API at run time, typical of packers)", [], { ttps: ["T1027"] }));
    const now = (input.now ?? Date.now()) / 1000;
    if (pe.pe_headers.timestamp === 0 || pe.pe_headers.timestamp > now + 86400)
      out.push(sig(1, "pe_suspicious_timestamp", pe.pe_headers.timestamp === 0 ? "The compile timestamp is zero" : "The compile timestamp is in the future", [pe.pe_timestamp ?? 0], { ttps: ["T1070.006"] }));
    if (pe.pe_overlay && pe.pe_overlay.size >= 10 * 1024 && pe.pe_overlay.entropy > 7.5)
      out.push(sig(6, "pe_encrypted_overlay", "Carries a large high-entropy blob after its sections", [pe.pe_overlay], { ttps: ["T1027"] }));
  }
  const elf = input.static?.elf;
  if (elf && elf.elf_header.number_of_sections === 0 && elf.elf_header.type !== "CORE")
    out.push(sig(6, "elf_no_sections", "An ELF without section headers (packed or deliberately stripped)", [], { ttps: ["T1027"] }));
  if (input.static?.office?.macros) out.push(sig(6, "office_macros", "The document contains VBA macros", [input.static.office.app], { ttps: ["T1204.002", "T1137"], tags: ["macro"] }));

  const iocs = input.strings?.iocs;
  if (iocs) {
    const autorun = iocs.registry_keys.filter((k) => AUTORUN_RE.test(k));
    if (autorun.length) out.push(sig(6, "strings_autorun_key", "Names a registry key used to start programs automatically", autorun, { ttps: ["T1547.001"], tags: ["persistence"] }));
    if (iocs.urls.length) out.push(sig(1, "strings_urls", "Contains URLs", iocs.urls));
  }
  return out;
}

const AUTORUN_RE = /\\(?:Software\\(?:Wow6432Node\\)?Microsoft\\Windows\\CurrentVersion\\(?:Run|RunOnce|RunServices|RunServicesOnce|Policies\\Explorer\\Run)|Software\\Microsoft\\Windows NT\\CurrentVersion\\(?:Winlogon\\(?:Shell|Userinit)|Image File Execution Options|Windows\\AppInit_DLLs))(?:\\|$)|^(?:Software|SOFTWARE)\\(?:Wow6432Node\\)?Microsoft\\Windows\\CurrentVersion\\Run(?:Once)?(?:\\|$)/i;
const OFFICE = new Set(["winword.exe", "excel.exe", "powerpnt.exe", "outlook.exe", "msaccess.exe", "mspub.exe", "visio.exe", "onenote.exe"]);
const SHELLS = new Set(["cmd.exe", "powershell.exe", "pwsh.exe", "wscript.exe", "cscript.exe", "mshta.exe", "rundll32.exe", "regsvr32.exe", "certutil.exe", "bitsadmin.exe", "schtasks.exe", "msiexec.exe", "sh", "bash"]);
const EXE_EXT = /\.(?:exe|dll|scr|sys|com|cpl|ocx|bat|cmd|ps1|vbs|vbe|js|jse|hta|msi|lnk)$/i;
const LINUX_PERSIST = /^(?:\/etc\/cron[^/]*\/|\/var\/spool\/cron\/|\/etc\/systemd\/system\/|\/lib\/systemd\/system\/|\/etc\/init\.d\/|\/etc\/rc\.local$|\/etc\/ld\.so\.preload$|.*\/\.config\/autostart\/|.*\/\.(?:bashrc|profile|bash_profile)$|.*\/\.ssh\/authorized_keys$)/;

export interface BehaviourInput {
  behaviour?: BehaviourSummary;
  network?: NetworkSummary;
  /** Distinct looked-up names from which "many domains" triggers. */
  manyDomains?: number;
}

function isRoutable(ip: string): boolean {
  if (/^(?:127\.|0\.|169\.254\.|22[4-9]\.|23\d\.|255\.)/.test(ip)) return false;
  if (ip === "::1" || ip === "::" || /^fe80:|^ff/i.test(ip)) return false;
  return /^\d+\.\d+\.\d+\.\d+$/.test(ip) || ip.includes(":");
}

export function behaviourSignatures(input: BehaviourInput): Signature[] {
  const out: Signature[] = [];
  const b = input.behaviour;
  const n = input.network;
  if (b) {
    const autorun = b.registry.set.filter((r) => AUTORUN_RE.test(r.key));
    if (autorun.length) out.push(sig(8, "autorun_registry", "Adds a program to a registry autorun key", autorun, { ttps: ["T1547.001"], tags: ["persistence"] }));
    const dropped = [...new Set([...b.files.created, ...b.files.written])].filter((p) => EXE_EXT.test(p));
    if (dropped.length) out.push(sig(6, "drops_executable", "Writes executable files or scripts to disk", dropped, { ttps: ["T1105"], tags: ["dropper"] }));
    const byProcid = new Map(b.processes.process_list.map((p) => [p.procid, p]));
    const spawned = b.processes.process_list.filter((p) => {
      const parent = p.parent_procid !== null ? byProcid.get(p.parent_procid) : undefined;
      return parent && OFFICE.has(parent.name.toLowerCase()) && SHELLS.has(p.name.toLowerCase());
    });
    if (spawned.length)
      out.push(sig(9, "office_spawns_shell", "An Office application started a shell or script host", spawned.map((p) => ({ parent: byProcid.get(p.parent_procid!)!.name, process: p.name, commandline: p.commandline })), { ttps: ["T1204.002", "T1059"], tags: ["maldoc"] }));
    const cmds = b.processes.process_list.map((p) => p.commandline).filter(Boolean);
    const shadow = cmds.filter((c) => /vssadmin(?:\.exe)?["']?\s+delete\s+shadows|wmic(?:\.exe)?["']?\s+shadowcopy\s+delete|bcdedit(?:\.exe)?["']?\s+\/set\s+\S+\s+recoveryenabled\s+no/i.test(c));
    if (shadow.length) out.push(sig(9, "shadow_copy_deletion", "Deletes volume shadow copies or disables recovery", shadow, { ttps: ["T1490"], tags: ["ransomware"] }));
    const tasks = cmds.filter((c) => /schtasks(?:\.exe)?["']?\s+.*\/create/i.test(c));
    if (tasks.length) out.push(sig(6, "scheduled_task_creation", "Creates a scheduled task", tasks, { ttps: ["T1053.005"], tags: ["persistence"] }));
    const ps = cmds.filter((c) => /(?:powershell|pwsh)(?:\.exe)?["']?\s.*(?:\s-e(?:nc|ncodedcommand)?\s+[A-Za-z0-9+/=]{20,}|iex\b|invoke-expression|downloadstring|downloadfile|frombase64string)/i.test(c));
    if (ps.length) out.push(sig(8, "suspicious_powershell", "Runs PowerShell with an encoded or downloaded command", ps, { ttps: ["T1059.001"], tags: ["powershell"] }));
    if (b.injections.length) out.push(sig(8, "process_injection", "Writes code into another process", b.injections, { ttps: ["T1055"], tags: ["injection"] }));
    const persist = [...b.files.created, ...b.files.written].filter((p) => LINUX_PERSIST.test(p));
    if (persist.length) out.push(sig(8, "linux_persistence", "Writes to a file that starts programs at boot, login or on a schedule", persist, { ttps: ["T1053.003", "T1543.002", "T1546.004"], tags: ["persistence"] }));
  }
  // Addresses learnt from DNS answers are "named"; a connection to any other routable address used a raw IP.
  const resolved = new Set((n?.dns.response ?? []).map((r) => r.data));
  const rawIp: unknown[] = [];
  for (const c of b?.network.connections ?? []) if (isRoutable(c.dst) && !resolved.has(c.dst)) rawIp.push({ process: c.process, dst: c.dst, port: c.port });
  for (const t of n?.tcp ?? []) if (isRoutable(t.dstip) && !resolved.has(t.dstip)) rawIp.push({ dst: t.dstip, port: t.dstport });
  if (rawIp.length) out.push(sig(6, "connects_raw_ip", "Connects to an IP address that was never looked up in DNS", dedupe(rawIp), { ttps: ["T1071"], tags: ["network"] }));
  const httpIp = (n?.http ?? []).filter((h) => /^https?:\/\/(?:\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\])(?::\d+)?\//i.test(h.request.url) && isRoutable(h.dstip));
  if (httpIp.length) out.push(sig(6, "http_request_raw_ip", "Makes HTTP requests to a bare IP address", httpIp.map((h) => h.request.url), { ttps: ["T1071.001"], tags: ["network"] }));
  const names = new Set<string>([...(n?.dns.query ?? []).map((q) => q.name.toLowerCase()), ...(b?.network.dns ?? [])]);
  if (names.size >= (input.manyDomains ?? 10)) out.push(sig(6, "many_dns_domains", `Looks up ${names.size} different domain names (possible DGA or scanning)`, [...names], { ttps: ["T1568.002"], tags: ["network"] }));
  if (n?.http.length) out.push(sig(1, "http_requests", "Makes HTTP requests", n.http.map((h) => `${h.request.method} ${h.request.url}`)));
  return out;
}

function dedupe(items: unknown[]): unknown[] {
  const seen = new Set<string>();
  return items.filter((i) => {
    const k = JSON.stringify(i);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
