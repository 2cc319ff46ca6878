import { isIPv4, isIPv6 } from "node:net";
import { ipv6Text } from "../core/ipv6-text.ts";

/** IP addresses as bigints so v4 and v6 share one code path for ranges and CIDR math. */
export type Family = 4 | 6;

export interface Addr {
  family: Family;
  value: bigint;
}

export function parseAddr(s: string): Addr | null {
  if (isIPv4(s)) {
    const p = s.split(".").map(Number);
    return { family: 4, value: BigInt(((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!) };
  }
  if (isIPv6(s)) return { family: 6, value: parseV6(s) };
  return null;
}

function parseV6(s: string): bigint {
  let str = s;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const m = /(\d+\.\d+\.\d+\.\d+)$/.exec(str);
  if (m) {
    const v = parseAddr(m[1]!)!.value;
    str = str.slice(0, m.index) + ((v >> 16n) & 0xffffn).toString(16) + ":" + (v & 0xffffn).toString(16);
  }
  const [head, tail] = str.includes("::") ? str.split("::") : [str, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  const groups = [...h, ...Array(fill).fill("0"), ...t];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(parseInt(g || "0", 16));
  return v;
}

export function formatAddr(a: Addr): string {
  if (a.family === 4) {
    const v = Number(a.value);
    return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((a.value >> BigInt(i * 16)) & 0xffffn));
  return ipv6Text(groups);
}

/** The one spelling of an address (nmap's reports and our targets may write IPv6 differently); as given when it is not one. */
export function canonicalAddr(ip: string): string {
  const a = parseAddr(ip);
  return a ? formatAddr(a) : ip;
}

export const bits = (f: Family) => (f === 4 ? 32 : 128);

export interface Cidr {
  family: Family;
  base: bigint;
  prefix: number;
}

export function parseCidr(s: string): Cidr | null {
  const i = s.lastIndexOf("/");
  if (i < 0) return null;
  const a = parseAddr(s.slice(0, i));
  const ps = s.slice(i + 1);
  if (!a || !/^\d{1,3}$/.test(ps)) return null;
  const prefix = Number(ps);
  if (prefix > bits(a.family)) return null;
  const host = bits(a.family) - prefix;
  const base = (a.value >> BigInt(host)) << BigInt(host);
  return { family: a.family, base, prefix };
}

export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(bits(c.family) - c.prefix);
}

export function inCidr(a: Addr, c: Cidr): boolean {
  if (a.family !== c.family) return false;
  const host = BigInt(bits(c.family) - c.prefix);
  return a.value >> host === c.base >> host;
}
