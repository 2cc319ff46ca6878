import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { TuiStore } from "./store.ts";
import { makeTheme } from "./theme.ts";
import { tempQueue, until, workerRec } from "../../test/tui/testkit.ts";

// Under a pipe chalk (inside ink) would draw no colour at all, and a colour test could not fail: ask it for
// the 16 basic colours before ink is first loaded, as src/tui/load.ts does on a terminal. The colour test
// below then fails if this stops working, instead of passing on a frame without colours.
const hadForceColor = process.env.FORCE_COLOR;
process.env.FORCE_COLOR = "1";
const { render, cleanup } = await import("ink-testing-library");
const { App } = await import("./app.tsx");
// chalk has read it: put it back, so programs other tests start in this process do not inherit it.
if (hadForceColor === undefined) delete process.env.FORCE_COLOR;
else process.env.FORCE_COLOR = hadForceColor;

const noColor = makeTheme({ NO_COLOR: "1" });
const ESC = "\u001B";

describe("App", () => {
  let q: ReturnType<typeof tempQueue>;
  let store: TuiStore;
  beforeEach(() => {
    q = tempQueue();
  });
  afterEach(async () => {
    cleanup();
    store?.stop();
    await q.dispose();
  });

  async function mount(
    view?: "workers" | "queues" | "tasks" | "scans" | "sync",
  ) {
    store = new TuiStore(q.queue, {
      flushMs: 20,
      requeryMs: 20,
      pollMs: 20,
      workersMs: 100,
    });
    await store.start();
    const app = render(
      <App
        store={store}
        title="falc test"
        theme={noColor}
        interactive
        initialView={view}
      />,
    );
    return app;
  }
  /** The frame as text (bold and dim drawn as escapes are left out); `raw` keeps them, for colour tests. */
  const raw = (app: ReturnType<typeof render>) => app.lastFrame() ?? "";
  const frame = (app: ReturnType<typeof render>) => Bun.stripANSI(raw(app));
  /**
   * Type keys, then wait (with a deadline) until the frame shows their effect: `done` when given, else
   * any change of the frame. Never a fixed sleep.
   */
  const press = async (app: ReturnType<typeof render>, keys: string, done?: (f: string) => boolean) => {
    const before = frame(app);
    app.stdin.write(keys);
    await until(() => (done ? done(frame(app)) : frame(app) !== before), 3000, `the frame after ${JSON.stringify(keys)}`);
  };

  test("workers view shows names, states, current task and restarts", async () => {
    await q.queue.putWorker(
      workerRec({
        name: "pre1",
        stage: "pre",
        state: "working",
        taskId: "t123",
        restarts: 2,
      }),
      60_000,
    );
    await q.queue.putWorker(
      workerRec({
        name: "pre2",
        stage: "pre",
        state: "setup_failed",
        error: "rules broken",
      }),
      60_000,
    );
    const app = await mount();
    await until(() => frame(app).includes("pre2"), 3000, "workers rendered");
    const f = frame(app);
    expect(f).toContain("[1 workers]");
    expect(f).toMatch(/pre1\s+lab1\s+pre\s+working\s+t123\s+\d+s\s+2/);
    expect(f).toMatch(/pre2 .*setup_failed.*rules broken/);
    expect(f).toContain("working 1");
    // NO_COLOR: no escape sequences for colour at all, although chalk would draw them (see the next test).
    expect(raw(app)).not.toMatch(/\u001B\[(3\d|9[0-7])(;\d+)*m/);
  });

  test("colours are the 16 basic ones when allowed", async () => {
    await q.queue.putWorker(
      workerRec({ name: "pre1", stage: "pre", state: "working" }),
      60_000,
    );
    store = new TuiStore(q.queue, { flushMs: 20, requeryMs: 20, pollMs: 20 });
    await store.start();
    const app = render(<App store={store} theme={makeTheme({})} interactive />);
    await until(() => frame(app).includes("pre1"), 3000, "rendered");
    const codes = [...raw(app).matchAll(/\u001B\[([\d;]+)m/g)].flatMap((m) =>
      m[1]!.split(";").map(Number),
    );
    // Colours are drawn (working is green, 32) …
    expect(codes).toContain(32);
    // … and only SGR 30-37/90-97 foreground ones (no 38;5 / 38;2 extended colours).
    expect(codes.filter((c) => c === 38 || c === 48)).toEqual([]);
  });

  test("tab switches views; queues shows per-stage counts live", async () => {
    const app = await mount();
    await press(app, "\t", (f) => f.includes("[2 queues]"));
    await q.queue.enqueueMany(
      Array.from({ length: 7 }, () => ({ stage: "pre", payload: {} })),
    );
    const t = await q.queue.claim({
      stages: ["pre"],
      worker: "w",
      leaseMs: 60_000,
    });
    await q.queue.start(t!.id, "w");
    await until(
      () => /pre\s+6\s+1\s+0\s+0/.test(frame(app)),
      3000,
      "live counts",
    );
    await press(app, "\t\t\t\t", (f) => f.includes("[1 workers]"));
    await press(app, "5", (f) => f.includes("no master reachable"));
  });

  test("tasks view: select, detail, filter", async () => {
    await q.queue.enqueue({
      stage: "pre",
      payload: { file: "a.exe" },
      id: "task-a",
    });
    // Enqueued second, so listed first (newest), even within the same millisecond.
    await q.queue.enqueue({
      stage: "post",
      payload: { file: "b.exe" },
      id: "task-b",
    });
    const app = await mount("tasks");
    await until(() => frame(app).includes("task-a"), 3000, "tasks");
    expect(frame(app)).toMatch(/> task-b/);
    await press(app, `${ESC}[B`, (f) => /> task-a/.test(f)); // down
    await press(app, "\r");
    await until(
      () => frame(app).includes('payload:  {"file":"a.exe"}'),
      3000,
      "detail pane",
    );
    await press(app, "/stage:post", (f) => f.includes("/stage:post"));
    await press(app, "\r");
    await until(
      () =>
        frame(app).includes("filter: stage:post") &&
        !frame(app).includes("task-a"),
      3000,
      "filtered",
    );
    expect(frame(app)).toContain("task-b");
  });

  test("c asks first, then cancels the selected task in the queue; r retries it", async () => {
    await q.queue.enqueue({ stage: "pre", payload: {}, id: "task-x" });
    const app = await mount("tasks");
    await until(() => frame(app).includes("task-x"), 3000, "task");
    await press(app, "c", (f) => f.includes("Cancel task task-x? (y/n)"));
    await press(app, "n", (f) => !f.includes("Cancel task task-x?"));
    expect((await q.queue.get("task-x"))!.status).toBe("queued");
    await press(app, "c", (f) => f.includes("Cancel task task-x? (y/n)"));
    await press(app, "y", (f) => !f.includes("Cancel task task-x? (y/n)"));
    await until(
      () => frame(app).includes("task-x is now cancelled"),
      3000,
      "cancel message",
    );
    expect((await q.queue.get("task-x"))!.status).toBe("cancelled");
    await until(
      () => /task-x\s+pre\s+cancelled/.test(frame(app)),
      3000,
      "row updated from the event",
    );
    await press(app, "r");
    await until(
      () => frame(app).includes("task-x is now queued"),
      3000,
      "retry message",
    );
    expect((await q.queue.get("task-x"))!.status).toBe("queued");
  });

  test("scans view shows progress bars from progress events", async () => {
    await q.queue.enqueue({
      stage: "scan",
      payload: { targets: ["10.9.0.1"] },
    });
    const app = await mount("scans");
    const t = await q.queue.claim({
      stages: ["scan"],
      worker: "scan1",
      leaseMs: 60_000,
    });
    await q.queue.start(t!.id, "scan1");
    await q.queue.progress(t!.id, "scan1", 0.5, "Service scan");
    await until(() => frame(app).includes("50%"), 3000, "progress");
    expect(frame(app)).toMatch(
      /10\.9\.0\.1\s+started\s+#{10}\.{10}\s+50%.*Service scan/,
    );
  });

  test("the scans selection follows the scan when the list reorders", async () => {
    await q.queue.enqueue({ stage: "scan", payload: { target: "10.0.0.1" }, id: "scan-a" });
    await q.queue.enqueue({ stage: "scan", payload: { target: "10.0.0.2" }, id: "scan-b" });
    const a = (await q.queue.claim({ stages: ["scan"], worker: "s1", leaseMs: 60_000 }))!;
    const b = (await q.queue.claim({ stages: ["scan"], worker: "s2", leaseMs: 60_000 }))!;
    const app = await mount("scans");
    await q.queue.start(a.id, "s1");
    await until(() => /10\.0\.0\.1\s+started/.test(frame(app)), 3000, "a started");
    await q.queue.start(b.id, "s2");
    await until(() => /> 10\.0\.0\.2 .*\n  10\.0\.0\.1 /.test(frame(app)), 3000, "b on top");
    await press(app, "j", (f) => /> 10\.0\.0\.1 /.test(f));
    // b reports progress and stays on top; then a does and moves up: the selection moves with it.
    await q.queue.progress(a.id, "s1", 0.3, "x");
    await until(() => /> 10\.0\.0\.1 .*30%.*\n  10\.0\.0\.2 /.test(frame(app)), 3000, "a moved up, still selected");
    await press(app, "c", (f) => f.includes(`Cancel task ${a.id}?`));
    await press(app, "n", (f) => !f.includes(`Cancel task ${a.id}?`));
  });

  test("? shows the keys; the sync view asks its source", async () => {
    store = new TuiStore(q.queue, { flushMs: 20, requeryMs: 20, pollMs: 20 });
    await store.start();
    let asked = 0;
    const source = async () => (asked++ === 0 ? null : [{ name: "node-a", state: "synced", lastSyncAt: 0 }]);
    const app = render(<App store={store} theme={noColor} interactive syncSource={source} syncEveryMs={50} />);
    await until(() => frame(app) !== "", 3000, "first frame");
    await press(app, "?", (f) => f.includes("cancel the selected task"));
    await press(app, ESC, (f) => !f.includes("cancel the selected task"));
    app.stdin.write("5");
    await until(() => asked >= 1, 2000, "sync asked");
    await until(() => frame(app).includes("node-a  synced  never"), 3000, "sync nodes");
  });

  // Speed at scale is measured in scripts/bench/million.ts (first paint at 1,000,000 tasks against 1,000), not
  // timed here: this checks that counts, a burst of claims and the windowed rows come out right.
  test("counts, a burst of claims folded in, and only the worker rows that fit drawn (50 workers)", async () => {
    const ins = Array.from({ length: 1_000 }, (_, i) => ({
      stage: ["pre", "post", "scan", "identification"][i % 4]!,
      payload: { i },
    }));
    await q.queue.enqueueMany(ins);
    for (let i = 0; i < 50; i++)
      await q.queue.putWorker(
        workerRec({
          name: `pre${i}`,
          stage: "pre",
          state: i % 2 ? "working" : "idle",
        }),
        60_000,
      );
    const app = await mount("queues");
    await until(() => /pre\s+250/.test(frame(app)), 5000, "counts");
    // A burst of state changes is folded in without re-listing per event.
    for (let i = 0; i < 100; i++) await q.queue.claim({ stages: ["pre"], worker: "w", leaseMs: 60_000 });
    await until(() => /pre\s+150\s+100/.test(frame(app)), 5000, "burst applied");
    // Only the rows that fit are drawn; the selection scrolls the window.
    await press(app, "1", (f) => f.includes("workers 50"));
    expect(frame(app)).toContain("> pre0 ");
    expect(frame(app)).not.toContain("pre49");
    await press(app, "G", (f) => f.includes("> pre49 "));
    expect(frame(app)).not.toContain(" pre0 ");
    app.stdin.write("q");
  }, 30_000);
});
