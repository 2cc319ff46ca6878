import { afterEach, expect, test } from "bun:test";
import { healthResponse, metricsResponse, startHttpServer, type HttpServer } from "./http-server.ts";

const open: HttpServer[] = [];
afterEach(() => open.splice(0).forEach((s) => s.stop()));

test("routes answer; a route that hangs is 503 within the deadline; others 404/405", async () => {
  const s = startHttpServer({
    port: 0,
    deadlineMs: 300,
    routes: {
      "/health": () => healthResponse({ status: "ok", reasons: [] }),
      "/bad": () => healthResponse({ status: "unhealthy", reasons: ["queue unreachable since x"] }),
      "/metrics": () => metricsResponse("up 1\n"),
      "/hang": () => new Promise<Response>(() => {}),
      "/throw": () => {
        throw new Error("boom");
      },
    },
  });
  open.push(s);
  expect((await fetch(`${s.url}/health`)).status).toBe(200);
  const bad = await fetch(`${s.url}/bad`);
  expect(bad.status).toBe(503);
  expect(((await bad.json()) as { reasons: string[] }).reasons).toEqual(["queue unreachable since x"]);
  expect(await (await fetch(`${s.url}/metrics`)).text()).toBe("up 1\n");
  const t0 = performance.now();
  const hang = await fetch(`${s.url}/hang`);
  expect(performance.now() - t0).toBeLessThan(1000);
  expect(hang.status).toBe(503);
  expect(((await hang.json()) as { reasons: string[] }).reasons[0]).toMatch(/no answer within 300 ms/);
  expect((await fetch(`${s.url}/throw`)).status).toBe(503);
  expect((await fetch(`${s.url}/nope`)).status).toBe(404);
  expect((await fetch(`${s.url}/health`, { method: "POST" })).status).toBe(405);
});

test("a taken port is a usage error (exit 2) naming the port and the way out", () => {
  const a = startHttpServer({ port: 0, routes: {} });
  open.push(a);
  let err: unknown;
  try {
    startHttpServer({ port: a.port, routes: {} });
  } catch (e) {
    err = e;
  }
  expect((err as { code: string }).code).toBe("usage");
  expect((err as Error).message).toMatch(new RegExp(`port ${a.port} .* already in use.*--health-port 0`));
});

test("methods per route, :params, 405 with Allow, bodies over the limit 413, no deadline when null, errors by onError", async () => {
  const s = startHttpServer({
    port: 0,
    deadlineMs: null,
    maxBodyBytes: 1024,
    routes: {
      "/tasks": { POST: async (req) => Response.json({ got: (await req.text()).length }, { status: 201 }) },
      "/tasks/next": { GET: () => Response.json("next") },
      "/tasks/:id": { GET: (_req, p) => Response.json({ id: p.id }) },
      "/tasks/:id/done": { POST: (_req, p) => Response.json({ done: p.id }) },
      "/slow": { GET: () => Bun.sleep(1100).then(() => new Response("late but whole")) },
      "/throw": { GET: () => { throw new Error("teapot"); } },
    },
    errorResponse: (status, message, headers) => Response.json({ error: message }, { status, headers }),
    onError: (e) => Response.json({ error: (e as Error).message }, { status: 418 }),
  });
  open.push(s);
  const post = (path: string, body: string) => fetch(`${s.url}${path}`, { method: "POST", body });
  expect(await (await post("/tasks", "x".repeat(1000))).json()).toEqual({ got: 1000 });
  expect((await post("/tasks", "x".repeat(5000))).status).toBe(413);
  expect(await (await fetch(`${s.url}/tasks/next`)).json()).toBe("next"); // an exact route before a pattern
  expect(await (await fetch(`${s.url}/tasks/a%20b`)).json()).toEqual({ id: "a b" });
  expect(await (await post("/tasks/7/done", "")).json()).toEqual({ done: "7" });
  const wrong = await fetch(`${s.url}/tasks/7/done`);
  expect({ status: wrong.status, allow: wrong.headers.get("allow") }).toEqual({ status: 405, allow: "POST" });
  expect(((await wrong.json()) as { error: string }).error).toContain("GET on /tasks/7/done");
  expect((await post("/tasks/next", "")).status).toBe(405);
  for (const path of ["/tasks/", "/tasks//done", "/tasks/7/done/x", "/nope"]) expect((await fetch(`${s.url}${path}`)).status).toBe(404);
  expect(await (await fetch(`${s.url}/slow`)).text()).toBe("late but whole");
  const thrown = await fetch(`${s.url}/throw`);
  expect({ status: thrown.status, body: await thrown.json() }).toEqual({ status: 418, body: { error: "teapot" } });
});
