import { usageError } from "./errors.ts";

/**
 * The one small HTTP server for falc's probes (`falc worker`'s /health and /metrics; the eval service adopts it).
 *
 *   const srv = startHttpServer({ port, host, routes: { "/health": () => healthResponse(body), "/metrics": … } });
 *   srv.port; srv.stop();
 *
 * - A taken port is a usage error (exit 2) at start, never a server silently missing; port 0 picks a free one.
 * - Every route answers within `deadlineMs` (default 900 ms): a route still busy then (a queue that hangs) gets
 *   503 `{"status":"unhealthy","reasons":["no answer within … ms"]}`, so a probe never times out.
 * - GET only; other paths are 404 with the list of routes.
 */
export type Route = (req: Request) => Response | Promise<Response>;

export interface HttpServerOptions {
  port: number;
  host?: string;
  routes: Record<string, Route>;
  deadlineMs?: number;
}

export interface HttpServer {
  port: number;
  url: string;
  stop(): void;
}

/** The /health body: `status` decides the code (200 ok, 503 otherwise); `reasons` say why in words a person acts on. */
export interface HealthBody {
  status: "ok" | "unhealthy";
  reasons: string[];
  [key: string]: unknown;
}

export function healthResponse(body: HealthBody): Response {
  return Response.json(body, { status: body.status === "ok" ? 200 : 503 });
}

export function metricsResponse(text: string, contentType = "text/plain; version=0.0.4; charset=utf-8"): Response {
  return new Response(text, { headers: { "content-type": contentType } });
}

export function startHttpServer(o: HttpServerOptions): HttpServer {
  const host = o.host ?? "127.0.0.1";
  const deadlineMs = o.deadlineMs ?? 900;
  const paths = Object.keys(o.routes);
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      port: o.port,
      hostname: host,
      async fetch(req) {
        if (req.method !== "GET") return new Response("method not allowed\n", { status: 405 });
        const route = o.routes[new URL(req.url).pathname];
        if (!route) return new Response(`not found: try ${paths.join(" or ")}\n`, { status: 404 });
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<Response>((resolve) => {
          timer = setTimeout(
            () => resolve(healthResponse({ status: "unhealthy", reasons: [`no answer within ${deadlineMs} ms`] })),
            deadlineMs,
          );
        });
        try {
          return await Promise.race([Promise.resolve().then(() => route(req)), late]);
        } catch (e) {
          return healthResponse({ status: "unhealthy", reasons: [(e as Error).message] });
        } finally {
          clearTimeout(timer);
        }
      },
    });
  } catch (e) {
    const msg = (e as Error).message;
    const taken = /in use|EADDRINUSE/i.test(msg) || (e as NodeJS.ErrnoException).code === "EADDRINUSE";
    throw usageError(
      taken
        ? `port ${o.port} on ${host} is already in use; choose another with --health-port, or --health-port 0 for any free port`
        : `cannot serve on ${host}:${o.port}: ${msg}`,
    );
  }
  const port = server.port as number;
  return { port, url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`, stop: () => server.stop(true) };
}
