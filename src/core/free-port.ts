import { createServer } from "node:net";

/**
 * A free TCP port on loopback, picked by the OS. Between close and the caller's bind another
 * process may take it; tests and benchmarks accept that small race.
 */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}
