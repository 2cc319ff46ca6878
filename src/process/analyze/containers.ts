/**
 * What identification opens and how: archives and compressed streams through libarchive, mail
 * (.eml, .msg) through the mail parsers. One place decides, for the first unpacking and for the pre
 * stage's re-extraction of a target by its extrpath.
 */
import { bufferSource } from "./bytes.ts";
import { type FileType, detectType } from "./filetype.ts";
import { type ArchiveInput, DEFAULT_UNPACK_LIMITS, LimitError, type UnpackOptions, type Unpacked, extractByName, unpack } from "./libarchive.ts";
import { type MailFormat, extractMailAttachment, unpackMail } from "./mail.ts";
import { readFileSync, statSync } from "node:fs";

export const isContainer = (t: FileType): boolean => t.kind === "zip" || t.kind === "archive" || t.kind === "mail";

const mailFormat = (t: FileType): MailFormat => (t.extension === "msg" ? "msg" : "eml");

export async function unpackContainer(input: ArchiveInput, t: FileType, opts: UnpackOptions): Promise<Unpacked> {
  if (t.kind !== "mail") return unpack(input, opts);
  // A message is parsed whole in memory: one larger than the unpacking's total budget is not opened.
  const max = (opts.limits ?? DEFAULT_UNPACK_LIMITS).maxTotalSize;
  const size = "bytes" in input ? input.bytes.length : statSync(input.path).size;
  if (size > max) throw new LimitError(`message of ${size} bytes is over the unpacking limit of ${max} bytes: not opened`);
  return unpackMail("bytes" in input ? input.bytes : readFileSync(input.path), mailFormat(t), opts);
}

/** The child `name` of a container's bytes (the first of that name), typed again to know how to open it. */
export async function extractChild(bytes: Uint8Array, name: string, passwords: string[]): Promise<Uint8Array> {
  const t = detectType(bufferSource(bytes));
  if (t.kind === "mail") return extractMailAttachment(bytes, mailFormat(t), name);
  return extractByName({ bytes }, name, passwords);
}
