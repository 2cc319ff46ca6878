/** Real listeners for scan tests: an HTTP server, an SSH-like banner and a Redis-like responder on loopback. */
export interface Listeners {
  ports: { http: number; ssh: number; redis: number };
  stop(): void;
}

export function startListeners(hostname = "127.0.0.1"): Listeners {
  const body = "<html><head><title>lab</title></head><body>hello</body></html>";
  const http = Bun.listen({
    hostname,
    port: 0,
    socket: {
      data(s) {
        s.write(`HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
        s.end();
      },
    },
  });
  const ssh = Bun.listen({
    hostname,
    port: 0,
    socket: {
      open(s) { s.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"); },
      data() {},
    },
  });
  const redis = Bun.listen({
    hostname,
    port: 0,
    socket: {
      data(s, d) {
        const t = d.toString();
        if (/^GET /.test(t)) s.write("-ERR wrong number of arguments for 'get' command\r\n");
        else if (/PING/i.test(t)) s.write("+PONG\r\n");
        else if (/INFO/i.test(t)) { const body = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n"; s.write(`$${body.length}\r\n${body}\r\n`); }
        else s.write("-ERR unknown command\r\n");
      },
    },
  });
  return {
    ports: { http: http.port, ssh: ssh.port, redis: redis.port },
    stop() { http.stop(true); ssh.stop(true); redis.stop(true); },
  };
}

/** A loopback address of its own (127.x.y.z), so scans of it see only this test's listeners. */
export function ownLoopback(): string {
  const r = () => 1 + Math.floor(Math.random() * 250);
  return `127.${r()}.${r()}.${r()}`;
}

/**
 * An HTTP listener on a port nmap tries early (one of its popular ports), on `hostname`, at `port`
 * if given, else the first of them that is free there.
 */
export function listenPopular(hostname: string, port?: number): { port: number; stop(): void } {
  const body = "<html><head><title>lab</title></head><body>hello</body></html>";
  const socket = { data(s: { write(x: string): void; end(): void }) { s.write(`HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`); s.end(); } };
  for (const p of port ? [port] : [8080, 8000, 8888, 8081, 9000, 8008, 8443]) {
    try {
      const l = Bun.listen({ hostname, port: p, socket });
      return { port: l.port, stop: () => l.stop(true) };
    } catch {}
  }
  throw new Error(`no popular port free on ${hostname}`);
}
