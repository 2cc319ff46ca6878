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
