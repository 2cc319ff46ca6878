import { closeSync, openSync, readSync } from "node:fs";
import type { FileTarget, PluginFactory, Processor } from "../../src/process/plugin.ts";

/**
 * The framework's own minimal identifier: size, sha256 and a type guessed from the first bytes.
 * The real `identify` processor (plugins/identification/) supersedes it; when that one is present the
 * core ignores this result for the top level of identification.json (see src/process/layout.ts).
 */
interface Guess {
  filetype: string;
  media_type: string;
  platforms: { platform: string; os_version: string }[];
}

const on = (platform: string) => [{ platform, os_version: "" }];

export function guessType(head: Uint8Array): Guess {
  const b = (i: number) => head[i] ?? -1;
  const starts = (...bytes: number[]) => bytes.every((x, i) => b(i) === x);
  if (starts(0x7f, 0x45, 0x4c, 0x46)) return { filetype: "ELF", media_type: "application/x-executable", platforms: on("linux") };
  if (starts(0x4d, 0x5a)) return { filetype: "MS-DOS/PE executable", media_type: "application/x-dosexec", platforms: on("windows") };
  if (starts(0xcf, 0xfa, 0xed, 0xfe) || starts(0xce, 0xfa, 0xed, 0xfe) || starts(0xfe, 0xed, 0xfa, 0xce) || starts(0xfe, 0xed, 0xfa, 0xcf))
    return { filetype: "Mach-O", media_type: "application/x-mach-binary", platforms: on("macos") };
  if (starts(0x25, 0x50, 0x44, 0x46)) return { filetype: "PDF document", media_type: "application/pdf", platforms: [] };
  if (starts(0x50, 0x4b, 0x03, 0x04)) return { filetype: "Zip archive data", media_type: "application/zip", platforms: [] };
  if (starts(0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1)) return { filetype: "Composite Document File (OLE)", media_type: "application/x-ole-storage", platforms: on("windows") };
  if (head.length && !head.includes(0)) {
    if (starts(0x23, 0x21)) return { filetype: "script text", media_type: "text/x-script", platforms: on("linux") };
    return { filetype: "text", media_type: "text/plain", platforms: [] };
  }
  return { filetype: "data", media_type: "application/octet-stream", platforms: [] };
}

function readHead(path: string, n = 4096): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

const fallback: PluginFactory = () => {
  const p: Processor = {
    kind: "processor",
    NAME: "fallback_identify",
    ORDER: 1,
    KEY: "fallback_identify",
    STAGE: "identification",
    CATEGORY: ["file"],
    start(ctx) {
      const t = ctx.target as FileTarget;
      return { size: t.size, sha256: t.sha256, ...guessType(readHead(t.path)) };
    },
  };
  return p;
};

export default fallback;
