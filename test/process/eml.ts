/**
 * Random RFC 822/MIME messages for the mail differential test (seeded): attachments in random number, with
 * names in ASCII, UTF-8 and with `../`, named through plain, RFC 2231 and RFC 2047 parameters, encoded as
 * base64, quoted-printable or 7bit, inside nested multiparts and attached messages (message/rfc822).
 * Every named part carries Content-Disposition: attachment, so a mail client, Python's email package and
 * postal-mime all take it for an attachment; body parts carry no name.
 */

const NAMES = ["report.pdf", "invoice 2026.exe", "grüße ü.doc", "отчёт.scr", "名前.txt", "../../etc/passwd", "..\\..\\win.ini", "a/b/../c.js", "x", "résumé;final.bin", "quote\"d.txt"];

export interface Made {
  eml: string;
  /** Every named leaf attachment, at any depth, as [name, data]. */
  attachments: [string, Uint8Array][];
}

const b64 = (d: Uint8Array) => Buffer.from(d).toString("base64").replace(/.{1,76}/g, "$&\r\n");

/** Quoted-printable (RFC 2045 6.7), soft line breaks at 76. */
function qp(d: Uint8Array): string {
  let out = "";
  let line = "";
  for (const c of d) {
    const lit = (c >= 33 && c <= 126 && c !== 61) || c === 32;
    const tok = lit ? String.fromCharCode(c) : `=${c.toString(16).toUpperCase().padStart(2, "0")}`;
    if (line.length + tok.length > 75) {
      out += `${line}=\r\n`;
      line = "";
    }
    line += tok;
  }
  // A space at the end of an encoded line is encoded: transports strip trailing blanks.
  if (line.endsWith(" ")) line = `${line.slice(0, -1)}=20`;
  return out + line;
}

const ascii = (s: string) => /^[\x20-\x7e]*$/.test(s);

/** The disposition and type parameters naming `name`, in one of the three ways mail is written. */
function nameParams(name: string, r: () => number): { disp: string; type: string } {
  const how = ascii(name) && r() < 0.4 ? "plain" : r() < 0.5 ? "2231" : "2047";
  if (how === "plain") {
    // A quoted-string (RFC 822): a backslash escapes the next character.
    const q = name.replace(/[\\"]/g, "\\$&");
    return { disp: `filename="${q}"`, type: `name="${q}"` };
  }
  if (how === "2231") {
    const pct = encodeURIComponent(name).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    return { disp: `filename*=utf-8''${pct}`, type: `name*=utf-8''${pct}` };
  }
  const word = `=?utf-8?b?${Buffer.from(name).toString("base64")}?=`;
  return { disp: `filename="${word}"`, type: `name="${word}"` };
}

function data(r: () => number): Uint8Array {
  const size = r() < 0.1 ? 1 : Math.floor(r() * 4000) + 1;
  if (r() < 0.5) return Uint8Array.from({ length: size }, () => Math.floor(r() * 256));
  // Text with line ends and spaces, the case quoted-printable is made for.
  return Uint8Array.from({ length: size }, () => " abcxyz\r\n=.é"[Math.floor(r() * 12)]!.charCodeAt(0) & 0xff);
}

function attachment(r: () => number, out: [string, Uint8Array][]): string {
  const name = NAMES[Math.floor(r() * NAMES.length)]! + (r() < 0.5 ? "" : String(Math.floor(r() * 100)));
  const d = data(r);
  const p = nameParams(name, r);
  const ctype = ["application/octet-stream", "application/x-msdownload", "image/png", "text/plain"][Math.floor(r() * 4)]!;
  const printable = d.every((c) => c >= 32 && c < 127);
  const enc = printable && r() < 0.3 ? "7bit" : r() < 0.5 ? "base64" : "quoted-printable";
  // 7bit needs lines; one line of printable bytes without CR/LF is kept as is.
  const body = enc === "base64" ? b64(d) : enc === "quoted-printable" ? qp(d) : Buffer.from(d).toString("latin1");
  out.push([name, d]);
  return `Content-Type: ${ctype}; ${p.type}\r\nContent-Disposition: attachment; ${p.disp}\r\nContent-Transfer-Encoding: ${enc}\r\n\r\n${body}`;
}

/** A multipart body, its boundary parameter first: it continues the caller's Content-Type line. */
function multipart(r: () => number, depth: number, out: [string, Uint8Array][]): string {
  const boundary = `b${depth}-${Math.floor(r() * 1e9)}`;
  const parts: string[] = [`Content-Type: text/plain; charset=utf-8\r\n\r\nHello ${depth}\r\n`];
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    const roll = r();
    if (roll < 0.15 && depth < 2) parts.push(`Content-Type: multipart/mixed; ${multipart(r, depth + 1, out)}`);
    else if (roll < 0.3 && depth < 2) {
      const named = r() < 0.5 ? `Content-Disposition: attachment; filename="fwd${depth}.eml"\r\n` : "";
      parts.push(`Content-Type: message/rfc822\r\n${named}\r\n${message(r, depth + 1, out)}`);
    } else parts.push(attachment(r, out));
  }
  return `boundary="${boundary}"\r\n\r\n` + parts.map((p) => `--${boundary}\r\n${p}`).join("\r\n") + `\r\n--${boundary}--\r\n`;
}

function message(r: () => number, depth: number, out: [string, Uint8Array][]): string {
  return `From: sender${depth}@example.test\r\nTo: rcpt@example.test\r\nSubject: test ${depth}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; ${multipart(r, depth, out)}`;
}

export function makeEml(r: () => number): Made {
  const attachments: [string, Uint8Array][] = [];
  return { eml: message(r, 0, attachments), attachments };
}
