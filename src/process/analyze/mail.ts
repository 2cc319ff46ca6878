/**
 * Mail as a container, as Cuckoo3's sflock opens it: the attachments of an RFC 822/MIME message (.eml,
 * through postal-mime) or of an Outlook message (.msg, through @kenjiuno/msgreader) become children. A
 * message attached to a message (message/rfc822, an embedded .msg) is one child of its own, opened in turn
 * by identification under the same depth guard as an archive in an archive. The guards are the archives'
 * (libarchive.ts): entry count, entry size, the unpacking's total budget and the ratio of bytes produced
 * to bytes read; names are kept as the message gives them (identification writes only a cleaned last
 * part, so `../` never reaches a path).
 */
import MsgReaderExport from "@kenjiuno/msgreader";
import PostalMime from "postal-mime";
import { DEFAULT_UNPACK_LIMITS, LimitError, type Unpacked, type UnpackedEntry, type UnpackLimits, type UnpackBudget } from "./libarchive.ts";
import { FormatError } from "./bytes.ts";
import { checkCfb } from "./cfb-check.ts";

export type MailFormat = "eml" | "msg";

// A CommonJS module with `exports.default`: `bun run` hands out the class, the compiled bundle the
// exports object holding it.
const MsgReader: typeof MsgReaderExport = (MsgReaderExport as unknown as { default?: typeof MsgReaderExport }).default ?? MsgReaderExport;

export interface MailAttachment {
  name: string;
  data: Uint8Array;
}

/** A part with no name gets one from its position, so the same message always names it the same way. */
function fallbackName(i: number, mime: string): string {
  return `attachment-${i + 1}${mime === "message/rfc822" ? ".eml" : ""}`;
}

/** The attachments in message order. Throws FormatError when the message cannot be parsed. */
export async function mailAttachments(bytes: Uint8Array, format: MailFormat): Promise<MailAttachment[]> {
  if (format === "msg") return msgAttachments(bytes);
  let email;
  try {
    // Every attached message stays one child (not merged into this one), like an archive in an archive.
    email = await PostalMime.parse(bytes, { forceRfc822Attachments: true, attachmentEncoding: "arraybuffer" });
  } catch (e) {
    throw new FormatError(`unreadable message: ${(e as Error).message}`);
  }
  return email.attachments.map((a, i) => ({
    name: a.filename || fallbackName(i, a.mimeType),
    data: a.content instanceof Uint8Array ? a.content : new Uint8Array(a.content as ArrayBuffer),
  }));
}

function msgAttachments(bytes: Uint8Array): MailAttachment[] {
  // The reader follows chains as written: a loop would hang it, so the structure is checked first.
  checkCfb(bytes);
  try {
    // A copy in a plain ArrayBuffer: the reader refuses views of shared memory (the target pool is one).
    const reader = new MsgReader(new Uint8Array(bytes).buffer);
    const fields = reader.getFileData();
    if (fields.error) throw new Error(fields.error);
    return (fields.attachments ?? []).map((a, i) => {
      const got = reader.getAttachment(a);
      return { name: got.fileName || a.fileName || fallbackName(i, ""), data: got.content };
    });
  } catch (e) {
    throw new FormatError(`unreadable Outlook message: ${(e as Error).message}`);
  }
}

export interface MailUnpackOptions {
  limits?: UnpackLimits;
  budget?: UnpackBudget;
  signal?: AbortSignal;
}

/** The attachments as an unpacking (libarchive.ts's shape), within the archives' guards. */
export async function unpackMail(bytes: Uint8Array, format: MailFormat, opts: MailUnpackOptions = {}): Promise<Unpacked> {
  const limits = opts.limits ?? DEFAULT_UNPACK_LIMITS;
  const budget = opts.budget ?? { used: 0 };
  const entries: UnpackedEntry[] = [];
  let error: string | undefined;
  let produced = 0;
  for (const a of await mailAttachments(bytes, format)) {
    opts.signal?.throwIfAborted();
    if (entries.length >= limits.maxEntries) {
      error = `more than ${limits.maxEntries} entries: the rest is not unpacked`;
      break;
    }
    const entry: UnpackedEntry = { name: a.name, type: "file", size: a.data.length, encrypted: false, mode: "-rw-r--r--", nlink: 1, uname: "", gname: "", uid: 0, gid: 0, mtime: 0, link: "" };
    entries.push(entry);
    produced += a.data.length;
    const over = overLimit(a, limits, budget, produced, bytes.length);
    if (over) {
      entry.error = over.message;
      error = over.message;
      break;
    }
    budget.used += a.data.length;
    entry.data = a.data;
    entry.password = "";
  }
  return { format, filters: [], entries, error };
}

function overLimit(a: MailAttachment, limits: UnpackLimits, budget: UnpackBudget, produced: number, read: number): LimitError | undefined {
  if (a.data.length > limits.maxEntrySize) return new LimitError(`${a.name}: over the entry size limit of ${limits.maxEntrySize} bytes`);
  if (budget.used + a.data.length > limits.maxTotalSize) return new LimitError(`${a.name}: total unpacked size would exceed the limit of ${limits.maxTotalSize} bytes`);
  const ratio = produced / Math.max(1, read);
  if (produced > 1024 * 1024 && ratio > limits.maxRatio) return new LimitError(`${a.name}: ratio ${Math.round(ratio)}:1 is over the limit of ${limits.maxRatio}:1`);
  return undefined;
}

/** One attachment's bytes by name (the first of that name), for re-extraction by extrpath. */
export async function extractMailAttachment(bytes: Uint8Array, format: MailFormat, name: string): Promise<Uint8Array> {
  const hit = (await mailAttachments(bytes, format)).find((a) => a.name === name);
  if (!hit) throw new FormatError(`${name} is no longer in the message`);
  return hit.data;
}
