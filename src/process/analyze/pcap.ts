/**
 * Capture files and packet headers: classic pcap (µs and ns, either byte order) and pcapng (SHB/IDB/EPB/SPB),
 * link types Ethernet (with VLAN tags), Linux cooked v1/v2, raw IP, BSD loopback; then IPv4/IPv6
 * (extension headers skipped, fragments other than the first ignored), TCP and UDP.
 * Every length is checked against what is there; a damaged packet is counted and skipped.
 */
import { ipv6Text } from "../../core/ipv6-text.ts";
import { FormatError, View } from "./bytes.ts";

export interface RawPacket {
  /** Seconds since the epoch. */
  ts: number;
  linktype: number;
  data: Uint8Array;
}

export const LINKTYPE = { NULL: 0, ETHERNET: 1, RAW: 101, LOOP: 108, LINUX_SLL: 113, IPV4: 228, IPV6: 229, LINUX_SLL2: 276, RAW_OLD: 12, RAW_OLD2: 14 } as const;

export interface PcapLimits {
  maxPackets: number;
}

/** Iterates the packets of a pcap or pcapng buffer; throws FormatError when it is neither. */
export function* readCapture(buf: Uint8Array, limits: PcapLimits = { maxPackets: 2_000_000 }): Generator<RawPacket, { truncated: boolean; damaged: boolean }> {
  if (buf.length < 24) throw new FormatError("capture file too short");
  const magicLE = new View(buf, true).u32(0);
  if (magicLE === 0x0a0d0d0a) return yield* readPcapng(buf, limits);
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) { le = true; nano = magicLE === 0xa1b23c4d; }
  else if (magicLE === 0xd4c3b2a1 || magicLE === 0x4d3cb2a1) { le = false; nano = magicLE === 0x4d3cb2a1; }
  else throw new FormatError("not a pcap or pcapng file");
  const v = new View(buf, le);
  const linktype = v.u32(20) & 0x0fffffff;
  let off = 24;
  let n = 0;
  while (off + 16 <= buf.length) {
    if (n >= limits.maxPackets) return { truncated: true, damaged: false };
    const sec = v.u32(off);
    const frac = v.u32(off + 4);
    const incl = v.u32(off + 8);
    if (off + 16 + incl > buf.length) return { truncated: false, damaged: true };
    yield { ts: sec + frac / (nano ? 1e9 : 1e6), linktype, data: buf.subarray(off + 16, off + 16 + incl) };
    off += 16 + incl;
    n++;
  }
  return { truncated: false, damaged: off !== buf.length };
}

function* readPcapng(buf: Uint8Array, limits: PcapLimits): Generator<RawPacket, { truncated: boolean; damaged: boolean }> {
  let off = 0;
  let v = new View(buf, true);
  const ifaces: { linktype: number; tsDiv: number }[] = [];
  let n = 0;
  while (off + 12 <= buf.length) {
    let type = v.u32(off);
    if (type === 0x0a0d0d0a) {
      // Section header: its byte-order magic decides the endianness of everything in the section.
      const bom = new View(buf, true).u32(off + 8);
      if (bom === 0x1a2b3c4d) v = new View(buf, true);
      else if (bom === 0x4d3c2b1a) v = new View(buf, false);
      else return { truncated: false, damaged: true };
      ifaces.length = 0;
      type = 0x0a0d0d0a;
    }
    const len = v.u32(off + 4);
    if (len < 12 || len % 4 !== 0 || off + len > buf.length) return { truncated: false, damaged: true };
    if (type === 1 && len >= 20) {
      let tsDiv = 1e6;
      // Options: if_tsresol (9) changes the timestamp unit.
      for (let o = off + 16; o + 4 <= off + len - 4; ) {
        const code = v.u16(o);
        const olen = v.u16(o + 2);
        if (code === 0) break;
        if (code === 9 && olen >= 1) {
          const r = buf[o + 4]!;
          tsDiv = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
        }
        o += 4 + ((olen + 3) & ~3);
      }
      ifaces.push({ linktype: v.u16(off + 8), tsDiv });
    } else if (type === 6 && len >= 32) {
      if (n >= limits.maxPackets) return { truncated: true, damaged: false };
      const iface = ifaces[v.u32(off + 8)];
      const caplen = v.u32(off + 20);
      if (iface && off + 28 + caplen <= off + len) {
        const ts = (v.u32(off + 12) * 2 ** 32 + v.u32(off + 16)) / iface.tsDiv;
        yield { ts, linktype: iface.linktype, data: buf.subarray(off + 28, off + 28 + caplen) };
        n++;
      }
    } else if (type === 3 && len >= 16) {
      if (n >= limits.maxPackets) return { truncated: true, damaged: false };
      const iface = ifaces[0];
      if (iface) {
        const orig = v.u32(off + 8);
        yield { ts: 0, linktype: iface.linktype, data: buf.subarray(off + 12, off + 12 + Math.min(orig, len - 16)) };
        n++;
      }
    }
    off += len;
  }
  return { truncated: false, damaged: off !== buf.length };
}

export interface IpPacket {
  version: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  payload: Uint8Array;
}

export interface Segment {
  ip: IpPacket;
  proto: "tcp" | "udp";
  sport: number;
  dport: number;
  /** TCP only. */
  seq?: number;
  flags?: number;
  payload: Uint8Array;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

function ipv4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

export function ipv6(b: Uint8Array, o: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[o + i * 2]! << 8) | b[o + i * 2 + 1]!);
  return ipv6Text(groups);
}

/** The network-layer packet inside a link-layer frame, or undefined for anything else (ARP, damaged). */
export function decodeLink(linktype: number, d: Uint8Array): IpPacket | undefined {
  let off: number;
  let ethertype: number | undefined;
  switch (linktype) {
    case LINKTYPE.ETHERNET: {
      if (d.length < 14) return undefined;
      off = 12;
      ethertype = (d[off]! << 8) | d[off + 1]!;
      off += 2;
      for (let tags = 0; (ethertype === 0x8100 || ethertype === 0x88a8) && tags < 2; tags++) {
        if (d.length < off + 4) return undefined;
        ethertype = (d[off + 2]! << 8) | d[off + 3]!;
        off += 4;
      }
      break;
    }
    case LINKTYPE.LINUX_SLL:
      if (d.length < 16) return undefined;
      ethertype = (d[14]! << 8) | d[15]!;
      off = 16;
      break;
    case LINKTYPE.LINUX_SLL2:
      if (d.length < 20) return undefined;
      ethertype = (d[0]! << 8) | d[1]!;
      off = 20;
      break;
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP: {
      if (d.length < 4) return undefined;
      const fam = linktype === LINKTYPE.LOOP ? new View(d, false).u32(0) : d[0] === 0 ? new View(d, false).u32(0) : new View(d, true).u32(0);
      ethertype = fam === 2 ? 0x0800 : fam === 24 || fam === 28 || fam === 30 || fam === 10 ? 0x86dd : undefined;
      off = 4;
      break;
    }
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_OLD:
    case LINKTYPE.RAW_OLD2:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6:
      off = 0;
      ethertype = d.length && d[0]! >> 4 === 6 ? 0x86dd : 0x0800;
      break;
    default:
      return undefined;
  }
  if (ethertype === 0x0800) return decodeIpv4(d, off);
  if (ethertype === 0x86dd) return decodeIpv6(d, off);
  return undefined;
}

function decodeIpv4(d: Uint8Array, o: number): IpPacket | undefined {
  if (d.length < o + 20 || d[o]! >> 4 !== 4) return undefined;
  const ihl = (d[o]! & 0x0f) * 4;
  const total = (d[o + 2]! << 8) | d[o + 3]!;
  const frag = ((d[o + 6]! << 8) | d[o + 7]!) & 0x1fff;
  if (ihl < 20 || frag !== 0) return undefined;
  // Captures may cut the packet (snaplen) or pad it (Ethernet minimum): trust the smaller.
  const end = Math.min(d.length, o + (total >= ihl ? total : d.length - o));
  if (end < o + ihl) return undefined;
  return { version: 4, src: ipv4(d, o + 12), dst: ipv4(d, o + 16), proto: d[o + 9]!, payload: d.subarray(o + ihl, end) };
}

function decodeIpv6(d: Uint8Array, o: number): IpPacket | undefined {
  if (d.length < o + 40 || d[o]! >> 4 !== 6) return undefined;
  const plen = (d[o + 4]! << 8) | d[o + 5]!;
  let next = d[o + 6]!;
  let p = o + 40;
  const end = Math.min(d.length, p + plen);
  // Hop-by-hop, routing, destination options: skip; a fragment header ends the walk unless offset 0.
  for (let hops = 0; hops < 8 && (next === 0 || next === 43 || next === 60 || next === 44); hops++) {
    if (p + 8 > end) return undefined;
    if (next === 44) {
      const fragOff = ((d[p + 2]! << 8) | d[p + 3]!) >> 3;
      if (fragOff !== 0) return undefined;
      next = d[p]!;
      p += 8;
    } else {
      const len = (d[p + 1]! + 1) * 8;
      next = d[p]!;
      p += len;
    }
  }
  if (p > end) return undefined;
  return { version: 6, src: ipv6(d, o + 8), dst: ipv6(d, o + 24), proto: next, payload: d.subarray(p, end) };
}

export function decodeTransport(ip: IpPacket): Segment | undefined {
  const d = ip.payload;
  if (ip.proto === 6) {
    if (d.length < 20) return undefined;
    const hl = (d[12]! >> 4) * 4;
    if (hl < 20 || hl > d.length) return undefined;
    return {
      ip,
      proto: "tcp",
      sport: (d[0]! << 8) | d[1]!,
      dport: (d[2]! << 8) | d[3]!,
      seq: ((d[4]! << 24) | (d[5]! << 16) | (d[6]! << 8) | d[7]!) >>> 0,
      flags: d[13]!,
      payload: d.subarray(hl),
    };
  }
  if (ip.proto === 17) {
    if (d.length < 8) return undefined;
    const len = (d[4]! << 8) | d[5]!;
    return { ip, proto: "udp", sport: (d[0]! << 8) | d[1]!, dport: (d[2]! << 8) | d[3]!, payload: d.subarray(8, len >= 8 ? Math.min(d.length, len) : d.length) };
  }
  return undefined;
}
