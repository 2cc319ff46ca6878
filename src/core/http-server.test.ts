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
