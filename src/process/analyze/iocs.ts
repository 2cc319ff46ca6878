/**
 * Indicators of compromise in text: URLs, domains (only with a known TLD, see tlds.ts), IPv4 addresses,
 * e-mail addresses and Windows registry keys. Collected into capped, de-duplicated lists.
 */
import { isDomain } from "./tlds.ts";

export interface Iocs {
  urls: string[];
  domains: string[];
  ipv4: string[];
  emails: string[];
  registry_keys: string[];
}

export type IocKind = keyof Iocs;

// No word boundary before the scheme: in DER the byte before a URL is its length, often a letter or digit
// ("Khttp://..."), and the URL must still be found (derLength then cuts it at its end).
const URL_RE = /(?:https?|ftps?|wss?):\/\/[^\s"'<>`\\^{}|\x00-\x1f\x7f-\xff]{3,2048}/gi;
// Whole dotted tokens, so "System.IO.File" is judged by "File" and not cut back to "System.IO".
const TOKEN_RE = /(?<![\w.@-])[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+(?![\w(-]|\.\w)/gi;
const IPV4_RE = /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)/g;
const DIGIT_DOT_RE = /\d\.\d{1,3}\.\d/;
const DOT_LETTERS_RE = /[a-z0-9]\.[a-z]{2}/i;
const IPV4_EXACT = new RegExp(`^${IPV4_RE.source}$`);
const EMAIL_RE = /(?<![\w.%+-])[a-z0-9][a-z0-9._%+-]{0,63}@([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)(?![\w-]|\.\w)/gi;
const HIVES = "HKEY_LOCAL_MACHINE|HKEY_CURRENT_USER|HKEY_CLASSES_ROOT|HKEY_USERS|HKEY_CURRENT_CONFIG|HKLM|HKCU|HKCR|HKU";
const REG_PART = "[^\\\\\\x00-\\x1f\"'<>|*?]{1,255}";
const REG_RE = new RegExp(`\\b(?:(?:${HIVES})(?:\\\\${REG_PART})+|(?:SOFTWARE|SYSTEM)\\\\${REG_PART}(?:\\\\${REG_PART})+)`, "gi");

function hostOf(url: string): string | undefined {
  const m = /^[a-z]+:\/\/(?:[^@/?#]*@)?(\[[^\]]+\]|[^:/?#]+)/i.exec(url);
  return m?.[1]?.toLowerCase();
}

function validIpv4(ip: string): boolean {
  return ip !== "0.0.0.0" && !ip.startsWith("0.");
}

/** Collects IOCs from many strings, each list capped at `cap` distinct values. */
export class IocCollector {
  private readonly sets: Record<IocKind, Set<string>> = { urls: new Set(), domains: new Set(), ipv4: new Set(), emails: new Set(), registry_keys: new Set() };
  constructor(private readonly cap = 200) {}

  private add(kind: IocKind, value: string): void {
    const s = this.sets[kind];
    if (s.size < this.cap) s.add(value);
  }

  /** Looks at one string; `hint` says which of '.', '@', '\' it contains (from the scanner) to skip regexes. */
  /**
   * `derLength(i)`: when the text sits in DER (a certificate's URI), the encoded length of a string starting at
   * index i, so a URL stops where its DER string stops instead of taking the next element's tag ("...crl0").
   */
  scan(text: string, hint = 0xff, derLength?: (index: number) => number | undefined): void {
    if (text.length > 4096) text = text.slice(0, 4096);
    if (hint & HINT_DOT) {
      let urlSpans: [number, number][] | undefined;
      if (text.includes("://")) {
        for (const m of text.matchAll(URL_RE)) {
          const limit = derLength?.(m.index!);
          const raw = limit !== undefined && limit >= 10 && limit < m[0].length ? m[0].slice(0, limit) : m[0];
          const url = raw.replace(/[.,;:)\]]+$/, "");
          const host = hostOf(url);
          if (!host) continue;
          if (isDomain(host) || (IPV4_EXACT.test(host) && validIpv4(host)) || host.startsWith("[")) {
            this.add("urls", url);
            if (isDomain(host)) this.add("domains", host);
          }
          (urlSpans ??= []).push([m.index!, m.index! + m[0].length]);
        }
      }
      // Cheap gates first: most dotted strings in a binary ("libc.so.6", "GLIBC_2.2.5") fail them.
      if (DIGIT_DOT_RE.test(text)) for (const m of text.matchAll(IPV4_RE)) if (validIpv4(m[0])) this.add("ipv4", m[0]);
      if (DOT_LETTERS_RE.test(text)) {
        if (hint & HINT_AT) {
          for (const m of text.matchAll(EMAIL_RE)) {
            if (!isDomain(m[1]!)) continue;
            this.add("emails", m[0].toLowerCase());
            this.add("domains", m[1]!.toLowerCase());
          }
        }
        for (const m of text.matchAll(TOKEN_RE)) {
          if (urlSpans?.some(([a, b]) => m.index! >= a && m.index! < b)) continue;
          if (isDomain(m[0])) this.add("domains", m[0].toLowerCase());
        }
      }
    }
    if (hint & HINT_BACKSLASH && /HK|SOFTWARE\\|SYSTEM\\/i.test(text)) for (const m of text.matchAll(REG_RE)) this.add("registry_keys", m[0]);
  }

  result(): Iocs {
    return {
      urls: [...this.sets.urls],
      domains: [...this.sets.domains],
      ipv4: [...this.sets.ipv4],
      emails: [...this.sets.emails],
      registry_keys: [...this.sets.registry_keys],
    };
  }
}

export const HINT_DOT = 1;
export const HINT_AT = 2;
export const HINT_BACKSLASH = 4;

export function extractIocs(text: string, cap = 200): Iocs {
  const c = new IocCollector(cap);
  c.scan(text);
  return c.result();
}
