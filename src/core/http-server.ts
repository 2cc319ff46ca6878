import { usageError } from "./errors.ts";

/**
 * The one small HTTP server of falc: the probes (`falc worker`'s /health and /metrics, the eval
 * pull worker's /health) and the eval service's API.
 *
 *   const srv = startHttpServer({ port, host, routes: { "/health": () => healthResponse(body), "/metrics": … } });
 *   startHttpServer({ port, routes: { "/tasks": { POST: submit }, "/tasks/:id": { GET: (req, p) => show(p.id) } }, deadlineMs: null });
 *   srv.port; srv.stop();
 *
 * - A taken port is a usage error (exit 2) at start, never a server silently missing; port 0 picks a free one.
 * - A route is a handler (GET only) or handlers per method; `:name` path segments are parameters.
 *   An unknown path is 404 (with the list of routes); a known path with another method 405 with `Allow`.
 * - Request bodies over `maxBodyBytes` (default 1 MiB) are refused with 413 before a handler sees them.
 * - Every route answers within `deadlineMs` (default 900 ms; null for none): a route still busy then (a queue that
 *   hangs) gets 503 `{"status":"unhealthy","reasons":["no answer within … ms"]}`, so a probe never times out.
 *   A handler that throws is a 503 the same way, unless `onError` says otherwise.
 */
export type Route = (req: Request, params: Record<string, string>) => Response | Promise<Response>;
export type Method = "GET" | "POST" | "PUT" | "DELETE";
export type MethodRoutes = Partial<Record<Method, Route>>;

export interface HttpServerOptions {
  port: number;
  host?: string;
  routes: Record<string, Route | MethodRoutes>;
  deadlineMs?: number | null;
  maxBodyBytes?: number;
  /** The answer for 404, 405 and 413 (default: plain text). */
  errorResponse?: (status: number, message: string, headers: Record<string, string>) => Response;
  /** The answer when a handler throws (default: 503 unhealthy with the message). */
  onError?: (e: unknown, req: Request) => Response;
  /** The flag that sets the port, named in the error for a taken one. */
  portFlag?: string;
}

export interface HttpServer {
  port: number;
  url: string;
  /** `closeActive` (default true): end open connections too. */
  stop(closeActive?: boolean): void;
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

/** Match a path against the route keys: exact keys first, then `:param` patterns in their order. */
function matchRoute(routes: Record<string, Route | MethodRoutes>, path: string): { handlers: MethodRoutes; params: Record<string, string> } | null {
  const norm = (r: Route | MethodRoutes): MethodRoutes => (typeof r === "function" ? { GET: r } : r);
  if (Object.hasOwn(routes, path)) return { handlers: norm(routes[path]!), params: {} };
  const parts = path.split("/");
  for (const [key, r] of Object.entries(routes)) {
    if (!key.includes("/:")) continue;
    const want = key.split("/");
    if (want.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < want.length && ok; i++) {
      if (want[i]!.startsWith(":") && parts[i]) {
        try { params[want[i]!.slice(1)] = decodeURIComponent(parts[i]!); } catch { ok = false; }
      } else ok = want[i] === parts[i];
    }
    if (ok) return { handlers: norm(r), params };
  }
  return null;
}

const textError = (status: number, message: string, headers: Record<string, string>) => new Response(`${message}\n`, { status, headers });

export function startHttpServer(o: HttpServerOptions): HttpServer {
  const host = o.host ?? "127.0.0.1";
  const deadlineMs = o.deadlineMs === undefined ? 900 : o.deadlineMs;
  const paths = Object.keys(o.routes);
  const errorResponse = o.errorResponse ?? textError;
  const onError = o.onError ?? ((e: unknown) => healthResponse({ status: "unhealthy", reasons: [(e as Error).message] }));
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      port: o.port,
      hostname: host,
      maxRequestBodySize: o.maxBodyBytes ?? 1024 * 1024,
      async fetch(req) {
        const path = new URL(req.url).pathname;
        const found = matchRoute(o.routes, path);
        if (!found) return errorResponse(404, `not found: try ${paths.join(" or ")}`, {});
        const route = found.handlers[req.method as Method];
        if (!route) {
          const allow = Object.keys(found.handlers).join(", ");
          return errorResponse(405, `method not allowed: ${req.method} on ${path}, use ${allow}`, { allow });
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<Response>((resolve) => {
          if (deadlineMs === null) return;
          timer = setTimeout(
            () => resolve(healthResponse({ status: "unhealthy", reasons: [`no answer within ${deadlineMs} ms`] })),
            deadlineMs,
          );
        });
        try {
          return await Promise.race([Promise.resolve().then(() => route(req, found.params)), late]);
        } catch (e) {
          return onError(e, req);
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
        ? `port ${o.port} on ${host} is already in use; choose another with ${o.portFlag ?? "--health-port"}, or ${o.portFlag ?? "--health-port"} 0 for any free port`
        : `cannot serve on ${host}:${o.port}: ${msg}`,
    );
  }
  const port = server.port as number;
  return { port, url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`, stop: (closeActive = true) => server.stop(closeActive) };
}
