/**
 * File type by content. The description (`filetype`) and media type are libmagic's (libmagic.ts: what
 * `file` says); falc decides on top what an analysis needs: the kind (what to unpack, what to select), the
 * extension a target should carry, the platforms it runs on, and which text is a script. That part reads a
 * 64 KiB head plus what a header points at (PE optional header, zip central directory, OLE directory).
 */
import { type ByteSource, FormatError, View, startsWith } from "./bytes.ts";
import { type Magic, magicBuffer, magicBytesMax, magicFile } from "./libmagic.ts";
import { OLE_MAGIC, readOleDirectory } from "./ole.ts";
import { type ArchiveInput, ArchiveError, extractByName, listArchive } from "./libarchive.ts";

export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
}

export type Kind = "pe" | "msdos" | "elf" | "macho" | "pdf" | "rtf" | "ole" | "ooxml" | "zip" | "archive" | "lnk" | "mail" | "script" | "text" | "image" | "data" | "empty";
export type ScriptKind = "sh" | "python" | "powershell" | "js" | "vbs" | "batch" | "node" | "perl";

export interface Platform {
  platform: string;
  os_version: string;
}

export interface FileType {
  kind: Kind;
  /** A libmagic-style description, e.g. "PE32+ executable (console) x86-64, for MS Windows". */
  filetype: string;
  media_type: string;
  /** The extension (no dot) a target of this type should end with; "" when the type does not need one. */
  extension: string;
  /** Other extensions that already say the same (a .scr is a PE too). */
  aliases: string[];
  platforms: Platform[];
  pe?: { bits: 32 | 64; dll: boolean; subsystem: string; dotnet: boolean; machine: string };
  elf?: { bits: 32 | 64; type: string; machine: string };
  macho?: { fat: boolean; architectures: string[] };
  office?: { app: "word" | "excel" | "powerpoint" | "msi" | "outlook" | "unknown"; macros: boolean };
  zip?: { encrypted: boolean; entries: number };
  script?: ScriptKind;
}

export const HEAD_SIZE = 64 * 1024;

const windows: Platform[] = [{ platform: "windows", os_version: "" }];
const linux: Platform[] = [{ platform: "linux", os_version: "" }];
const macos: Platform[] = [{ platform: "macos", os_version: "" }];
const uefi: Platform[] = [{ platform: "uefi", os_version: "" }];

function make(kind: Kind, filetype: string, media_type: string, extension = "", platforms: Platform[] = [], extra: Partial<FileType> = {}): FileType {
  return { kind, filetype, media_type, extension, aliases: [], platforms, ...extra };
}

const PE_MACHINES: Record<number, string> = {
  0x14c: "Intel 80386",
  0x8664: "x86-64",
  0x1c0: "ARM",
  0x1c4: "ARMv7 Thumb",
  0xaa64: "Aarch64",
  0x200: "Intel Itanium",
  0xebc: "EFI byte code",
};
const PE_SUBSYSTEMS: Record<number, string> = { 1: "native", 2: "GUI", 3: "console", 7: "POSIX", 9: "Windows CE GUI", 10: "EFI application", 11: "EFI boot service driver", 12: "EFI runtime driver", 14: "Xbox", 16: "boot application" };

function detectPe(src: ByteSource, head: View): FileType {
  const dos = make("msdos", "MS-DOS executable", "application/x-dosexec", "exe");
  if (!head.has(0x3c, 4)) return dos;
  const lfanew = head.u32(0x3c);
  if (lfanew < 0x40 || lfanew > 64 * 1024 * 1024) return dos;
  const nt = new View(src.read(lfanew, 24 + 240));
  if (nt.length < 24 + 2 || nt.u32(0) !== 0x00004550) return dos;
  const machine = nt.u16(4);
  const characteristics = nt.u16(22);
  const magic = nt.u16(24);
  const bits = magic === 0x20b ? 64 : 32;
  const dll = (characteristics & 0x2000) !== 0;
  const subsystemNo = nt.has(24 + 68, 2) ? nt.u16(24 + 68) : 0;
  const ddBase = 24 + (bits === 64 ? 112 : 96);
  const ddCount = nt.has(24 + (bits === 64 ? 108 : 92), 4) ? nt.u32(24 + (bits === 64 ? 108 : 92)) : 0;
  const clrOff = ddBase + 14 * 8;
  const dotnet = ddCount > 14 && nt.has(clrOff, 8) && nt.u32(clrOff) !== 0 && nt.u32(clrOff + 4) !== 0;
  const subsystem = PE_SUBSYSTEMS[subsystemNo] ?? `subsystem ${subsystemNo}`;
  const machineName = PE_MACHINES[machine] ?? `unknown processor 0x${machine.toString(16)}`;
  const desc = `PE${bits === 64 ? "32+" : "32"} executable ${dll ? "(DLL) " : ""}(${subsystem}) ${machineName}${dotnet ? " Mono/.Net assembly" : ""}, for MS Windows`;
  const efi = subsystemNo >= 10 && subsystemNo <= 13;
  const ext = dll ? "dll" : efi ? "efi" : (characteristics & 0x1000) !== 0 ? "sys" : "exe";
  // An EFI image runs in firmware, not on Windows: a boot loader is not a Windows program.
  return make("pe", desc, "application/vnd.microsoft.portable-executable", ext, efi ? uefi : windows, {
    aliases: ext === "exe" ? ["scr", "com", "cpl", "pif"] : ext === "dll" ? ["ocx", "cpl", "drv", "ax", "sys"] : [],
    pe: { bits, dll, subsystem, dotnet, machine: machineName },
  });
}

const ELF_MACHINES: Record<number, string> = {
  2: "SPARC", 3: "Intel 80386", 8: "MIPS", 20: "PowerPC or cisco 4500", 21: "64-bit PowerPC or cisco 7500", 22: "IBM S/390",
  40: "ARM", 43: "SPARC V9", 62: "x86-64", 183: "ARM aarch64", 243: "UCB RISC-V", 258: "LoongArch",
};
const ELF_OSABI: Record<number, string> = { 0: "SYSV", 3: "GNU/Linux", 6: "Solaris", 9: "FreeBSD", 12: "OpenBSD" };

function detectElf(src: ByteSource, head: View): FileType {
  const bits = head.u8(4) === 2 ? 64 : 32;
  const le = head.u8(5) !== 2;
  const h = new View(head.buf, le);
  if (!h.has(0, bits === 64 ? 64 : 52)) return make("elf", `ELF ${bits}-bit ${le ? "LSB" : "MSB"} (truncated)`, "application/x-executable", "", linux, { elf: { bits, type: "unknown", machine: "" } });
  const type = h.u16(16);
  const machineNo = h.u16(18);
  const phoff = bits === 64 ? h.u64(32) : h.u32(28);
  const phentsize = h.u16(bits === 64 ? 54 : 42);
  const phnum = h.u16(bits === 64 ? 56 : 44);
  let interp = "";
  let dynamic = false;
  if (phentsize >= (bits === 64 ? 56 : 32) && phnum > 0 && phnum < 4096) {
    const ph = new View(src.read(phoff, phentsize * phnum), le);
    for (let i = 0; i < phnum && ph.has(i * phentsize, phentsize); i++) {
      const o = i * phentsize;
      const pt = ph.u32(o);
      if (pt === 2) dynamic = true;
      if (pt === 3) {
        const off = bits === 64 ? ph.u64(o + 8) : ph.u32(o + 4);
        const sz = bits === 64 ? ph.u64(o + 32) : ph.u32(o + 16);
        interp = new View(src.read(off, Math.min(sz, 4096))).cstr(0);
      }
    }
  }
  const typeName = type === 1 ? "relocatable" : type === 2 ? "executable" : type === 3 ? (interp ? "pie executable" : "shared object") : type === 4 ? "core file" : `unknown type 0x${type.toString(16)}`;
  const media = type === 1 ? "application/x-object" : type === 2 ? "application/x-executable" : type === 3 ? (interp ? "application/x-pie-executable" : "application/x-sharedlib") : type === 4 ? "application/x-coredump" : "application/octet-stream";
  const machine = ELF_MACHINES[machineNo] ?? `machine ${machineNo}`;
  const osabi = ELF_OSABI[h.u8(7)] ?? `ABI ${h.u8(7)}`;
  let desc = `ELF ${bits}-bit ${le ? "LSB" : "MSB"} ${typeName}, ${machine}, version ${h.u8(6)} (${osabi})`;
  if (type === 2 || type === 3) desc += dynamic || interp ? ", dynamically linked" : ", statically linked";
  if (interp) desc += `, interpreter ${interp}`;
  return make("elf", desc, media, "", linux, { aliases: ["elf", "so", "o", "bin"], elf: { bits, type: typeName, machine } });
}

const MACHO_CPU: Record<number, string> = { 7: "i386", 0x01000007: "x86_64", 12: "arm", 0x0100000c: "arm64", 0x0200000c: "arm64_32", 18: "ppc", 0x01000012: "ppc64" };
const MACHO_TYPES: Record<number, string> = { 1: "object", 2: "executable", 6: "dynamically linked shared library", 7: "dynamic linker", 8: "bundle", 10: "dSYM companion file" };

function detectMacho(head: View): FileType | undefined {
  const be = new View(head.buf, false);
  const m = be.u32(0);
  if (m === 0xcafebabe || m === 0xcafebabf) {
    // Java class files share 0xcafebabe: a fat header has a handful of architectures, a class file a major version >= 45.
    const n = be.has(4, 4) ? be.u32(4) : 0;
    if (n === 0 || n > 30) return undefined;
    const archs: string[] = [];
    const size = m === 0xcafebabf ? 32 : 20;
    for (let i = 0; i < n && be.has(8 + i * size, 4); i++) archs.push(MACHO_CPU[be.u32(8 + i * size)] ?? `cpu ${be.u32(8 + i * size)}`);
    return make("macho", `Mach-O universal binary with ${n} architecture${n === 1 ? "" : "s"}: [${archs.join(", ")}]`, "application/x-mach-binary", "", macos, { macho: { fat: true, architectures: archs } });
  }
  const le = new View(head.buf, true);
  const lm = le.u32(0);
  if (lm === 0xfeedface || lm === 0xfeedfacf || m === 0xfeedface || m === 0xfeedfacf) {
    const v = lm === 0xfeedface || lm === 0xfeedfacf ? le : be;
    const bits = (v.u32(0) & 1) === 1 ? 64 : 32;
    if (!v.has(12, 4)) return undefined;
    const cpu = MACHO_CPU[v.u32(4)] ?? `cpu ${v.u32(4)}`;
    const ft = MACHO_TYPES[v.u32(12)] ?? `filetype ${v.u32(12)}`;
    return make("macho", `Mach-O ${bits === 64 ? "64-bit " : ""}${cpu} ${ft}`, "application/x-mach-binary", "", macos, { macho: { fat: false, architectures: [cpu] } });
  }
  return undefined;
}

function detectOle(src: ByteSource): FileType {
  let app: NonNullable<FileType["office"]>["app"] = "unknown";
  let macros = false;
  try {
    const dir = readOleDirectory(src);
    const names = new Set(dir.entries.map((e) => e.name));
    if (dir.clsid.startsWith("000C1084") || dir.clsid.startsWith("000C1086")) app = "msi";
    else if (names.has("WordDocument")) app = "word";
    else if (names.has("Workbook") || names.has("Book")) app = "excel";
    else if (names.has("PowerPoint Document")) app = "powerpoint";
    else if ([...names].some((n) => n.startsWith("__substg1.0_"))) app = "outlook";
    macros = names.has("_VBA_PROJECT_CUR") || names.has("Macros") || names.has("VBA") || names.has("_VBA_PROJECT");
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
  }
  const office = { app, macros };
  switch (app) {
    case "word": return make("ole", "Composite Document File V2 Document, Microsoft Word 97-2003", "application/msword", "doc", windows, { aliases: ["dot", "wiz"], office });
    case "excel": return make("ole", "Composite Document File V2 Document, Microsoft Excel 97-2003", "application/vnd.ms-excel", "xls", windows, { aliases: ["xlt", "xla"], office });
    case "powerpoint": return make("ole", "Composite Document File V2 Document, Microsoft PowerPoint 97-2003", "application/vnd.ms-powerpoint", "ppt", windows, { aliases: ["pps", "pot"], office });
    case "msi": return make("ole", "Composite Document File V2 Document, MSI Installer", "application/x-msi", "msi", windows, { aliases: ["msp"], office });
    case "outlook": return make("mail", "CDFV2 Microsoft Outlook Message", "application/vnd.ms-outlook", "msg", [], { office });
    default: return make("ole", "Composite Document File V2 Document", "application/x-ole-storage", "", [], { office });
  }
}

const OOXML: [RegExp, string, string, string, NonNullable<FileType["office"]>["app"]][] = [
  [/ms-word\.document\.macroEnabled\.main\+xml/i, "docm", "Microsoft Word 2007+ (macro-enabled)", "application/vnd.ms-word.document.macroEnabled.12", "word"],
  [/wordprocessingml\.document\.main\+xml/i, "docx", "Microsoft Word 2007+", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "word"],
  [/wordprocessingml\.template\.main\+xml/i, "dotx", "Microsoft Word 2007+ template", "application/vnd.openxmlformats-officedocument.wordprocessingml.template", "word"],
  [/ms-excel\.sheet\.macroEnabled\.main\+xml/i, "xlsm", "Microsoft Excel 2007+ (macro-enabled)", "application/vnd.ms-excel.sheet.macroEnabled.12", "excel"],
  [/spreadsheetml\.sheet\.main\+xml/i, "xlsx", "Microsoft Excel 2007+", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "excel"],
  [/ms-powerpoint\.presentation\.macroEnabled\.main\+xml/i, "pptm", "Microsoft PowerPoint 2007+ (macro-enabled)", "application/vnd.ms-powerpoint.presentation.macroEnabled.12", "powerpoint"],
  [/presentationml\.presentation\.main\+xml/i, "pptx", "Microsoft PowerPoint 2007+", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "powerpoint"],
  [/presentationml\.slideshow\.main\+xml/i, "ppsx", "Microsoft PowerPoint 2007+ slideshow", "application/vnd.openxmlformats-officedocument.presentationml.slideshow", "powerpoint"],
];

function detectZip(src: ByteSource, path?: string): FileType {
  const input: ArchiveInput = path ? { path } : { bytes: src.read(0, src.size) };
  let listing;
  try {
    listing = listArchive(input);
  } catch (e) {
    if (!(e instanceof ArchiveError)) throw e;
    return make("zip", "Zip archive data (damaged)", "application/zip", "zip", [], { zip: { encrypted: false, entries: 0 } });
  }
  const entries = listing.entries;
  const encrypted = entries.some((e) => e.encrypted);
  const ct = entries.find((e) => e.name === "[Content_Types].xml");
  if (ct && !ct.encrypted && ct.size < 1024 * 1024) {
    try {
      const xml = Buffer.from(extractByName(input, ct.name, [])).toString("utf8");
      const macros = entries.some((e) => /vbaProject\.bin$/i.test(e.name));
      for (const [re, ext, desc, media, app] of OOXML) {
        if (re.test(xml)) return make("ooxml", desc, media, ext, windows, { office: { app, macros } });
      }
    } catch (e) {
      if (!(e instanceof ArchiveError)) throw e;
    }
  }
  return make("zip", "Zip archive data", "application/zip", "zip", [], { zip: { encrypted, entries: entries.length } });
}

// --- text and scripts ---

const SCRIPT_TYPES: Record<ScriptKind, { desc: string; media: string; ext: string; aliases: string[]; platforms: Platform[] }> = {
  sh: { desc: "POSIX shell script", media: "text/x-shellscript", ext: "sh", aliases: ["bash", "run"], platforms: linux },
  python: { desc: "Python script", media: "text/x-script.python", ext: "py", aliases: ["pyw"], platforms: [...linux, ...windows] },
  powershell: { desc: "PowerShell script", media: "text/x-powershell", ext: "ps1", aliases: ["psm1", "psd1"], platforms: windows },
  js: { desc: "JavaScript source", media: "application/javascript", ext: "js", aliases: ["jse", "mjs"], platforms: windows },
  vbs: { desc: "VBScript source", media: "text/vbscript", ext: "vbs", aliases: ["vbe", "vb"], platforms: windows },
  batch: { desc: "DOS batch file", media: "text/x-msdos-batch", ext: "bat", aliases: ["cmd"], platforms: windows },
  node: { desc: "Node.js script", media: "application/javascript", ext: "js", aliases: ["mjs", "cjs"], platforms: linux },
  perl: { desc: "Perl script", media: "text/x-perl", ext: "pl", aliases: ["pm"], platforms: linux },
};

const EXT_SCRIPT: Record<string, ScriptKind> = {
  sh: "sh", bash: "sh", py: "python", pyw: "python", ps1: "powershell", psm1: "powershell", js: "js", jse: "js",
  vbs: "vbs", vbe: "vbs", bat: "batch", cmd: "batch", pl: "perl", mjs: "node", cjs: "node",
};

const TEXT_EXT = new Set(["txt", "text", "md", "rst", "asc", "csv", "log", "ini", "cfg", "conf", "json", "xml", "html", "htm", "yml", "yaml", "license", "copying", "notice"]);

const SHEBANG: [RegExp, ScriptKind][] = [
  [/^(?:ba|da|z|k|c|tc|fi|a)?sh$|^busybox$/, "sh"],
  [/^python[0-9.]*$|^pypy/, "python"],
  [/^(?:node|nodejs|deno|bun)$/, "node"],
  [/^pwsh$|^powershell/, "powershell"],
  [/^perl/, "perl"],
];

// Content hints of script structure, each worth a point; the best type with at least two points wins.
// Only constructs prose does not have: a line ending in `;`, `document.` or a `$word` are not structure
// (they made the Apache-2.0 licence "JavaScript").
const HINTS: [ScriptKind, RegExp[]][] = [
  ["powershell", [/\b(?:Invoke-Expression|Invoke-WebRequest|Invoke-Command|New-Object|Get-ChildItem|Set-ExecutionPolicy|Write-Host|Start-Process|Add-Type)\b/i, /\$env:\w+/i, /\[(?:System\.)?(?:Convert|Text\.Encoding|Net\.WebClient|IO\.File)\]::/i, /\bparam\s*\(\s*\[/i, /-(?:EncodedCommand|NoProfile|ExecutionPolicy|WindowStyle)\b/i]],
  ["vbs", [/\bCreateObject\s*\(\s*"/i, /\bWScript\.(?:Shell|Echo|CreateObject|Sleep|Arguments)\b/i, /^\s*Dim\s+\w+\s*(?:,\s*\w+\s*)*$/im, /^\s*End\s+(?:Sub|Function)\s*$/im, /^\s*On\s+Error\s+Resume\s+Next/im, /^\s*Set\s+\w+\s*=\s*\w+/im]],
  ["batch", [/^\s*@echo\s+off/im, /^\s*(?:rem\s|::)/im, /%~[dpnx]*\d/i, /^\s*(?:goto\s+:?\w+|call\s+:\w+|set\s+\/[ap]\s|if\s+(?:not\s+)?exist\s)/im, /^:\w+\s*$/m]],
  ["js", [/\b(?:var|let|const)\s+\w+\s*=\s*[^=\s]/, /\bfunction\s*\w*\s*\([\w\s,]*\)\s*\{/, /\bnew\s+ActiveXObject\s*\(/i, /\bWScript\.(?:CreateObject|Shell|Echo)/, /\b(?:eval|unescape|String\.fromCharCode)\s*\(/]],
  ["python", [/^\s*import\s+\w+\s*$/m, /^\s*from\s+[\w.]+\s+import\s+/m, /^\s*def\s+\w+\s*\(.*\)\s*:/m, /^\s*if\s+__name__\s*==\s*['"]__main__['"]/m, /^\s*(?:class\s+\w+.*|elif\s.*|try|except.*):\s*$/m]],
  ["sh", [/^\s*(?:export|unset|readonly)\s+\w+=/m, /^\s*(?:fi|done|esac)\s*$/m, /\bif\s+\[\s.*\];\s*then\b/, /^\s*(?:chmod\s+[+0-7]|wget\s+-|curl\s+-)/m]],
];

function textInfo(head: Uint8Array): { text: boolean; encoding: string; content: string } {
  if (head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))) {
    const le = head[0] === 0xff;
    const body = head.subarray(2, 2 + ((head.length - 2) & ~1));
    const content = le ? Buffer.from(body).toString("utf16le") : Buffer.from(body).swap16().toString("utf16le");
    return { text: true, encoding: `Unicode text, UTF-16, ${le ? "little" : "big"}-endian`, content };
  }
  const n = Math.min(head.length, 16 * 1024);
  let ctrl = 0;
  let high = 0;
  for (let i = 0; i < n; i++) {
    const b = head[i]!;
    if (b === 0) return { text: false, encoding: "", content: "" };
    if (b < 0x20 && b !== 9 && b !== 10 && b !== 13 && b !== 12 && b !== 0x1b) ctrl++;
    else if (b >= 0x80) high++;
  }
  if (ctrl > n / 100) return { text: false, encoding: "", content: "" };
  let start = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) start = 3;
  let encoding = "ASCII text";
  let content: string;
  if (high === 0 && start === 0) content = Buffer.from(head.subarray(0, n)).toString("latin1");
  else {
    try {
      // The head may end inside a character: allow a few bytes of slack.
      content = new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(start, n - (n === head.length ? 0 : 3)), { stream: true });
      encoding = start ? "Unicode text, UTF-8 (with BOM) text" : "Unicode text, UTF-8 text";
    } catch {
      content = Buffer.from(head.subarray(0, n)).toString("latin1");
      encoding = "ISO-8859 text";
    }
  }
  return { text: true, encoding, content };
}

function detectScript(content: string, filename: string | undefined): ScriptKind | undefined {
  const sb = /^#!\s*(\S+)(?:[ \t]+(\S+))?/.exec(content);
  if (sb) {
    let interp = sb[1]!.split("/").pop()!;
    if (interp === "env" && sb[2]) interp = sb[2].replace(/^-S$/, "");
    for (const [re, kind] of SHEBANG) if (re.test(interp)) return kind;
  }
  const ext = filename?.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  if (ext && EXT_SCRIPT[ext]) return EXT_SCRIPT[ext];
  // Named as text or documentation (LICENSE.txt, README.md): the name says what it is.
  if (ext && TEXT_EXT.has(ext)) return undefined;
  const sample = content.length > 16384 ? content.slice(0, 16384) : content;
  let best: ScriptKind | undefined;
  let bestScore = 1;
  for (const [kind, res] of HINTS) {
    let score = 0;
    for (const re of res) if (re.test(sample)) score++;
    if (score > bestScore) {
      best = kind;
      bestScore = score;
    }
  }
  return best;
}

function detectText(head: Uint8Array, filename?: string): FileType | undefined {
  const t = textInfo(head);
  if (!t.text) return undefined;
  if (/^\s*\{\\rtf/.test(t.content.slice(0, 64))) return make("rtf", "Rich Text Format data", "text/rtf", "rtf", windows, { aliases: ["doc"] });
  const kind = detectScript(t.content, filename);
  if (kind) {
    const s = SCRIPT_TYPES[kind];
    return make("script", `${s.desc}, ${t.encoding}${t.content.startsWith("#!") ? " executable" : ""}`, s.media, s.ext, s.platforms, { aliases: s.aliases, script: kind });
  }
  if (/^\s*<(?:!doctype\s+html|html|head|body|script)\b/i.test(t.content.slice(0, 1024))) return make("text", `HTML document, ${t.encoding}`, "text/html", "html", [], { aliases: ["htm", "hta"] });
  return make("text", t.encoding, "text/plain", "", []);
}

const SIMPLE: [number[], number, () => FileType][] = [
  [[0x1f, 0x8b], 0, () => make("archive", "gzip compressed data", "application/gzip", "gz")],
  [[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], 0, () => make("archive", "7-zip archive data", "application/x-7z-compressed", "7z")],
  [[0x52, 0x61, 0x72, 0x21, 0x1a, 0x07], 0, () => make("archive", "RAR archive data", "application/x-rar", "rar")],
  [[0x42, 0x5a, 0x68], 0, () => make("archive", "bzip2 compressed data", "application/x-bzip2", "bz2")],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 0, () => make("archive", "XZ compressed data", "application/x-xz", "xz")],
  [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0, () => make("image", "PNG image data", "image/png", "png")],
  [[0xff, 0xd8, 0xff], 0, () => make("image", "JPEG image data", "image/jpeg", "jpg", [], { aliases: ["jpeg"] })],
  [[0x47, 0x49, 0x46, 0x38], 0, () => make("image", "GIF image data", "image/gif", "gif")],
  [[0x4c, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00], 0, () => make("lnk", "MS Windows shortcut", "application/x-ms-shortcut", "lnk", windows)],
];

/**
 * falc's own reading of a file (no libmagic): enough to choose a parser or a target. Descriptions and
 * media types here are placeholders that detectType replaces with libmagic's.
 */
export function structuralType(src: ByteSource, filename?: string, path?: string): FileType {
  if (src.size === 0) return make("empty", "empty", "inode/x-empty", "");
  const headBuf = src.read(0, HEAD_SIZE);
  const head = new View(headBuf);
  try {
    if (startsWith(headBuf, [0x4d, 0x5a])) return detectPe(src, head);
    if (startsWith(headBuf, [0x7f, 0x45, 0x4c, 0x46]) && head.has(0, 20)) return detectElf(src, head);
    if (headBuf.length >= 8) {
      const macho = detectMacho(head);
      if (macho) return macho;
    }
    const pdfAt = Buffer.from(headBuf.subarray(0, 1024)).indexOf("%PDF-");
    if (pdfAt >= 0) {
      const version = /^%PDF-(\d\.\d)/.exec(Buffer.from(headBuf.subarray(pdfAt, pdfAt + 16)).toString("latin1"))?.[1];
      return make("pdf", `PDF document${version ? `, version ${version}` : ""}`, "application/pdf", "pdf", windows);
    }
    if (startsWith(headBuf, OLE_MAGIC)) return detectOle(src);
    if (looksLikeZip(headBuf)) return detectZip(src, path);
    for (const [sig, at, f] of SIMPLE) if (startsWith(headBuf, sig, at)) return f();
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
  }
  return detectText(headBuf, filename) ?? make("data", "data", "application/octet-stream", "");
}

/** Containers libmagic names that falc unpacks (or would): media type -> extension. */
const ARCHIVE_MIME: Record<string, string> = {
  "application/gzip": "gz", "application/x-bzip2": "bz2", "application/x-xz": "xz", "application/zstd": "zst",
  "application/x-lzma": "lzma", "application/x-lzip": "lz", "application/x-7z-compressed": "7z", "application/x-rar": "rar",
  "application/vnd.rar": "rar", "application/vnd.ms-cab-compressed": "cab", "application/x-iso9660-image": "iso",
  "application/x-cpio": "cpio", "application/x-archive": "a", "application/vnd.debian.binary-package": "deb",
  "application/x-tar": "tar", "application/x-compress": "Z", "application/x-lha": "lha", "application/x-xar": "xar",
  "application/x-rpm": "rpm",
};

/** OpenDocument files are zips whose type libmagic knows: documents (an office app opens them), not archives. */
const ODF: Record<string, [string, NonNullable<FileType["office"]>["app"]]> = {
  "application/vnd.oasis.opendocument.text": ["odt", "word"],
  "application/vnd.oasis.opendocument.spreadsheet": ["ods", "excel"],
  "application/vnd.oasis.opendocument.presentation": ["odp", "powerpoint"],
};

const ELF_TYPE_BY_MIME: Record<string, string> = {
  "application/x-sharedlib": "shared object",
  "application/x-pie-executable": "pie executable",
  "application/x-executable": "executable",
  "application/x-object": "relocatable",
  "application/x-coredump": "core file",
};

/** Media types of text that is data, not something to run (libmagic's view wins over content hints). */
const DATA_TEXT = /^(?:application\/(?:json|xml|x-ndjson|pgp-keys|pgp-signature|x-pem-file)|text\/(?:xml|csv|html|troff|x-tex|x-diff|rtf|calendar|vcard)|message\/|image\/svg)/;

/** falc's kind, extension and platforms on top of libmagic's description and media type. */
export function withMagic(t: FileType, m: Magic): FileType {
  const out: FileType = { ...t, filetype: m.description, media_type: m.mime };
  const archiveExt = ARCHIVE_MIME[m.mime];
  if (archiveExt && t.kind !== "zip") return { ...out, kind: "archive", extension: archiveExt, aliases: archiveExt === "gz" ? ["tgz"] : archiveExt === "a" ? ["lib"] : [], platforms: [] };
  // A message's attachments are opened as children (mail.ts); its text is no script.
  if (m.mime === "message/rfc822") return { ...out, kind: "mail", extension: "eml", aliases: [], platforms: [], script: undefined };
  const odf = ODF[m.mime];
  if (odf && t.kind === "zip") return { ...out, kind: "ooxml", extension: odf[0], aliases: [], platforms: windows, office: { app: odf[1], macros: false }, zip: undefined };
  if (t.kind === "zip" && m.mime !== "application/zip" && m.mime.startsWith("application/")) {
    // A zip libmagic names otherwise (java-archive, epub, ...): still unpacked, but never renamed to .zip.
    return { ...out, extension: "", aliases: [] };
  }
  if (t.kind === "elf" && t.elf) {
    const type = ELF_TYPE_BY_MIME[m.mime];
    if (type) return { ...out, elf: { ...t.elf, type } };
  }
  if (t.kind === "script" && DATA_TEXT.test(m.mime)) return { ...out, kind: "text", extension: "", aliases: [], platforms: [], script: undefined };
  if ((t.kind === "data" || t.kind === "text") && m.mime.startsWith("image/")) return { ...out, kind: "image", extension: "", platforms: [] };
  if (t.kind === "data" && (m.mime.startsWith("text/") || DATA_TEXT.test(m.mime))) return { ...out, kind: "text" };
  return out;
}

/**
 * The type of a file: libmagic's description and media type (by `path` when the bytes are a file on disk,
 * as `file -L` types it), falc's kind on top. `filename` only breaks ties between script languages.
 */
export function detectType(src: ByteSource, filename?: string, path?: string): FileType {
  const t = structuralType(src, filename, path);
  if (t.kind === "empty") return t;
  return withMagic(t, path ? magicFile(path) : magicBuffer(src.read(0, magicBytesMax())));
}

/** Cuckoo3's rule: append the detected extension when the name does not already end with it (or an alias). */
export function identFilename(filename: string, t: FileType): string {
  if (!t.extension) return filename;
  const lower = filename.toLowerCase();
  if ([t.extension, ...t.aliases].some((e) => lower.endsWith("." + e))) return filename;
  return `${filename}.${t.extension}`;
}
