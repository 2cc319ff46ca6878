/**
 * Outlook .msg test files (MS-OXMSG) on the CFB writer (cfb.ts): a message with a subject, a body and
 * attachments by value (PidTagAttachDataBinary, long and short file names), and optionally a message
 * attached to it (PidTagAttachMethod 5, an embedded message storage), for the .msg differential test.
 */
import { type CfbNode, writeCfb } from "./cfb.ts";

export interface MsgAttachment {
  name: string;
  data: Uint8Array;
}

export interface MsgSpec {
  subject: string;
  body: string;
  attachments: MsgAttachment[];
  /** Messages attached to this one. */
  embedded?: MsgSpec[];
}

const PT_LONG = 0x0003;
const PT_UNICODE = 0x001f;
const PT_BINARY = 0x0102;
const PT_OBJECT = 0x000d;

const utf16 = (s: string) => new Uint8Array(Buffer.from(s, "utf16le"));
const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");

interface Prop {
  id: number;
  type: number;
  value: Uint8Array | number | CfbNode[];
}

/** A property object's storage children: its __properties_version1.0 stream and one stream (or storage) per variable-size property. */
function props(list: Prop[], headerSize: number, counts?: number[]): CfbNode[] {
  const stream = new Uint8Array(headerSize + 16 * list.length);
  const v = new DataView(stream.buffer);
  counts?.forEach((c, i) => v.setUint32(8 + i * 4, c, true));
  const nodes: CfbNode[] = [];
  list.forEach((p, i) => {
    const o = headerSize + i * 16;
    v.setUint32(o, (p.id << 16) | p.type, true);
    v.setUint32(o + 4, 6, true); // readable, writable
    const name = `__substg1.0_${hex4(p.id)}${hex4(p.type)}`;
    if (typeof p.value === "number") v.setUint32(o + 8, p.value, true);
    else if (p.value instanceof Uint8Array) {
      v.setUint32(o + 8, p.value.length + (p.type === PT_UNICODE ? 2 : 0), true);
      nodes.push({ name, data: p.value });
    } else {
      v.setUint32(o + 8, 0xffffffff, true);
      nodes.push({ name, children: p.value });
    }
  });
  return [{ name: "__properties_version1.0", data: stream }, ...nodes];
}

function message(spec: MsgSpec, top: boolean): CfbNode[] {
  const atts = [...spec.attachments.map((a) => ({ a })), ...(spec.embedded ?? []).map((m) => ({ m }))];
  const children: CfbNode[] = props(
    [
      { id: 0x001a, type: PT_UNICODE, value: utf16("IPM.Note") },
      { id: 0x0037, type: PT_UNICODE, value: utf16(spec.subject) },
      { id: 0x1000, type: PT_UNICODE, value: utf16(spec.body) },
    ],
    top ? 32 : 24,
    [0, atts.length, 0, atts.length], // next recipient id, next attachment id, recipients, attachments
  );
  if (top) children.push({ name: "__nameid_version1.0", children: [0x0002, 0x0003, 0x0004].map((id) => ({ name: `__substg1.0_${hex4(id)}0102`, data: new Uint8Array(0) })) });
  atts.forEach((x, i) => {
    const list: Prop[] =
      "a" in x
        ? [
            { id: 0x3705, type: PT_LONG, value: 1 },
            { id: 0x3707, type: PT_UNICODE, value: utf16(x.a.name) },
            { id: 0x3704, type: PT_UNICODE, value: utf16(x.a.name.slice(0, 12)) },
            { id: 0x3701, type: PT_BINARY, value: x.a.data },
          ]
        : [
            { id: 0x3705, type: PT_LONG, value: 5 },
            { id: 0x3001, type: PT_UNICODE, value: utf16(x.m.subject) },
            { id: 0x3701, type: PT_OBJECT, value: message(x.m, false) },
          ];
    children.push({ name: `__attach_version1.0_#${i.toString(16).toUpperCase().padStart(8, "0")}`, children: props(list, 8) });
  });
  return children;
}

export function writeMsg(spec: MsgSpec): Uint8Array {
  return writeCfb(message(spec, true));
}
