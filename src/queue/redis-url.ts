import { usageError } from "../core/errors.ts";

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** The URL with any password masked, for logs, /health and the TUI. */
  display: string;
}

const FORM = "redis://[user:password@]host[:port][/db], e.g. redis://10.0.0.1:6379/0";

/** Parse and check a queue URL at the edge, so a typo is one usage line instead of a connection that never works. */
export function parseRedisUrl(spec: string): RedisTarget {
  // Checked before URL parsing, which would only say "invalid URL" for a bad port.
  const port = /^rediss?:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/?#]*)(?::([^/?#]*))?/i.exec(spec)?.[1];
  if (port === "") throw usageError(`queue URL \`${spec}\` has an empty port; use ${FORM}`);
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535))
    throw usageError(`queue URL \`${spec}\`: port must be 1-65535, got \`${port}\``);
  let u: URL;
  try {
    u = new URL(spec);
  } catch {
    throw usageError(`queue URL \`${spec}\` is not a valid URL; use ${FORM}`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw usageError(`queue URL \`${spec}\` must start with redis:// or rediss://`);
  // IPv6 literals come back bracketed from URL; the socket wants them bare.
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw usageError(`queue URL \`${spec}\` has no host; use ${FORM}`);
  // URL drops the scheme's default port, so read it from the text checked above.
  const portNum = port === undefined ? 6379 : Number(port);
  const path = u.pathname.replace(/^\//, "");
  let db = 0;
  if (path !== "") {
    if (!/^\d{1,5}$/.test(path)) throw usageError(`queue URL \`${spec}\`: the database after the host must be a number (e.g. /0), got \`/${path}\``);
    db = Number(path);
  }
  if (u.search || u.hash) throw usageError(`queue URL \`${spec}\` takes no query or fragment; use ${FORM}`);
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const auth = u.username || u.password ? `${u.username}${u.password ? ":***" : ""}@` : "";
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    host,
    port: portNum,
    db,
    username,
    password,
    tls: u.protocol === "rediss:",
    display: `${u.protocol}//${auth}${hostPart}:${portNum}/${db}`,
  };
}
