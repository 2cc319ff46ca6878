/**
 * File typing through libmagic (Debian's libmagic1 and its compiled database) over bun:ffi: the media type
 * and description `file --mime-type --brief` and `file --brief` give. falc's own logic (platforms, what to
 * unpack, scripts) sits on top in filetype.ts. Found by soname; FALC_LIBMAGIC names another build.
 *
 * A path is typed with magic_file (as `file -L` does, so ELF details that need the file itself, such as
 * PIE, are libmagic's); bytes held only in memory with magic_buffer, cut at libmagic's own read limit.
 */
import { CString, type Pointer, dlopen } from "bun:ffi";

export const LIBMAGIC = process.env.FALC_LIBMAGIC || "libmagic.so.1";

const MAGIC_NONE = 0;
const MAGIC_SYMLINK = 0x2;
const MAGIC_MIME_TYPE = 0x10;
const MAGIC_PARAM_BYTES_MAX = 6;

const symbols = {
  magic_open: { args: ["i32"], returns: "ptr" },
  magic_load: { args: ["ptr", "ptr"], returns: "i32" },
  magic_file: { args: ["ptr", "ptr"], returns: "ptr" },
  magic_buffer: { args: ["ptr", "ptr", "u64"], returns: "ptr" },
  magic_error: { args: ["ptr"], returns: "ptr" },
  magic_getparam: { args: ["ptr", "i32", "ptr"], returns: "i32" },
  magic_version: { args: [], returns: "i32" },
} as const;

export class MagicUnavailable extends Error {
  override name = "MagicUnavailable";
}

export interface Magic {
  /** `file --mime-type --brief` */
  mime: string;
  /** `file --brief` */
  description: string;
}

interface Cookies {
  lib: ReturnType<typeof dlopen<typeof symbols>>["symbols"];
  mime: Pointer;
  desc: Pointer;
  bytesMax: number;
}

let cookies: Cookies | undefined;
let loadError: string | undefined;

function open(): Cookies {
  if (cookies) return cookies;
  if (loadError) throw new MagicUnavailable(loadError);
  try {
    const lib = dlopen(LIBMAGIC, symbols).symbols;
    const make = (flags: number) => {
      const c = lib.magic_open(flags | MAGIC_SYMLINK);
      if (!c) throw new Error("magic_open failed");
      // NULL: the default database, as `file` loads it (/etc/magic, /usr/share/misc/magic.mgc).
      if (lib.magic_load(c, null) !== 0) throw new Error(`magic_load: ${new CString(lib.magic_error(c)!)}`);
      return c as Pointer;
    };
    const mime = make(MAGIC_MIME_TYPE);
    const desc = make(MAGIC_NONE);
    const out = new BigUint64Array(1);
    lib.magic_getparam(desc, MAGIC_PARAM_BYTES_MAX, out);
    const opened: Cookies = { lib, mime, desc, bytesMax: Number(out[0]) || 1024 * 1024 };
    cookies = opened;
    return opened;
  } catch (e) {
    loadError = `${LIBMAGIC} cannot be loaded (${(e as Error).message.split("\n")[0]}); install Debian's libmagic1`;
    throw new MagicUnavailable(loadError);
  }
}

function text(c: Cookies, cookie: Pointer, p: Pointer | bigint | null, what: string): string {
  if (!p) {
    const err = c.lib.magic_error(cookie);
    throw new Error(`libmagic cannot type ${what}: ${err ? new CString(err) : "unknown error"}`);
  }
  return new CString(p as Pointer).toString();
}

/** How many leading bytes libmagic looks at (its bytes_max parameter). */
export function magicBytesMax(): number {
  return open().bytesMax;
}

/** Types a file by path (symlinks followed), exactly as `file -L` does. */
export function magicFile(path: string): Magic {
  const c = open();
  const p = Buffer.from(`${path}\0`);
  return { mime: text(c, c.mime, c.lib.magic_file(c.mime, p), path), description: text(c, c.desc, c.lib.magic_file(c.desc, p), path) };
}

/** Types bytes held in memory (only the first bytes_max of them are looked at, as for a file). */
export function magicBuffer(bytes: Uint8Array): Magic {
  const c = open();
  if (bytes.length === 0) return { mime: "inode/x-empty", description: "empty" };
  const b = bytes.length > c.bytesMax ? bytes.subarray(0, c.bytesMax) : bytes;
  return { mime: text(c, c.mime, c.lib.magic_buffer(c.mime, b, b.length), "buffer"), description: text(c, c.desc, c.lib.magic_buffer(c.desc, b, b.length), "buffer") };
}

