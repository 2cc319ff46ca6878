/**
 * A lab host's listeners, run inside its network namespace by test/scan/lab.ts:
 *   bun lab-host.ts <ip> http:80 ssh:22 "http:8080:Apache/2.4.57" ...  (kind:port[:banner])
 * Prints "ready" once every listener is bound.
 */
const [ip, ...specs] = process.argv.slice(2);
if (!ip) throw new Error("usage: lab-host.ts <ip> kind:port...");
const body = "<html><head><title>falc lab</title></head><body>lab</body></html>";
for (const spec of specs) {
  const [kind, p, ...rest] = spec.split(":");
  const port = Number(p);
  const banner = rest.join(":");
  if (kind === "http")
    Bun.listen({ hostname: ip, port, socket: { data(s) { s.write(`HTTP/1.1 200 OK\r\nServer: ${banner || "nginx/1.22.1"}\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`); s.end(); } } });
  else if (kind === "ssh")
    Bun.listen({ hostname: ip, port, socket: { open(s) { s.write(`SSH-2.0-${banner || "OpenSSH_9.2p1 Debian-2"}\r\n`); }, data() {} } });
  else throw new Error(`unknown listener kind ${kind}`);
}
console.log("ready");
process.on("SIGTERM", () => process.exit(0));
