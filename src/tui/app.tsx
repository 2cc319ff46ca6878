import { Box, render, Text, useApp, useInput, useStdout } from "ink";
import { useEffect, useState, useSyncExternalStore } from "react";
import type { Logger } from "../core/logger.ts";
import type { Task } from "../core/task.ts";
import type { Queue } from "../queue/types.ts";
import { parseFilter, TuiStore, type StoreOptions } from "./store.ts";
import { makeTheme, type Theme } from "./theme.ts";
import { QueuesView } from "./views/queues.tsx";
import { ScansView } from "./views/scans.tsx";
import { SyncView, type SyncNode } from "./views/sync.tsx";
import { TasksView } from "./views/tasks.tsx";
import { sortWorkers, WorkersView } from "./views/workers.tsx";

export const VIEWS = ["workers", "queues", "tasks", "scans", "sync"] as const;
export type ViewName = (typeof VIEWS)[number];

export interface AppProps {
  store: TuiStore;
  title?: string;
  theme?: Theme;
  /** Listen to keys; default only when stdin is a TTY (ink cannot read keys otherwise). */
  interactive?: boolean;
  initialView?: ViewName;
  /** Sync nodes when a master is reachable; null shows "no master reachable". */
  syncNodes?: SyncNode[] | null;
  onQuit?: () => void;
}

type Mode = { kind: "normal" } | { kind: "filter"; text: string } | { kind: "confirm"; action: "cancel"; taskId: string };

export function App({ store, title = "falc", theme = makeTheme(), interactive = Boolean(process.stdin.isTTY), initialView = "workers", syncNodes = null, onQuit }: AppProps) {
  const snap = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const rows = (stdout as NodeJS.WriteStream | undefined)?.rows || 24;
  const cols = (stdout as NodeJS.WriteStream | undefined)?.columns || 100;
  const [view, setView] = useState<ViewName>(initialView);
  const [sel, setSel] = useState<Record<ViewName, number>>({ workers: 0, queues: 0, tasks: 0, scans: 0, sync: 0 });
  const [selTaskId, setSelTaskId] = useState<string | null>(null);
  const [mode, setMode] = useState<Mode>({ kind: "normal" });
  const [message, setMessage] = useState<{ text: string; bad: boolean } | null>(null);
  const [detailOpen, setDetailOpen] = useState(false);
  const [detail, setDetail] = useState<Task | null>(null);

  // The tasks view keeps its selection on the same task while new ones arrive above it.
  const taskIndex = (() => {
    const i = selTaskId ? snap.tasks.findIndex((t) => t.id === selTaskId) : -1;
    return i >= 0 ? i : Math.min(sel.tasks, Math.max(0, snap.tasks.length - 1));
  })();
  const workers = sortWorkers(snap.workers);
  const lengths: Record<ViewName, number> = { workers: workers.length, queues: snap.stages.length, tasks: snap.tasks.length, scans: snap.scans.length, sync: 0 };
  const selectedTaskId = view === "tasks" ? (snap.tasks[taskIndex]?.id ?? null) : view === "scans" ? (snap.scans[sel.scans]?.taskId ?? null) : view === "workers" ? (workers[sel.workers]?.taskId ?? null) : null;

  useEffect(() => {
    if (!detailOpen || view !== "tasks" || !selectedTaskId) return setDetail(null);
    let live = true;
    void store.queue.get(selectedTaskId).then((t) => live && setDetail(t), () => {});
    return () => {
      live = false;
    };
  }, [detailOpen, view, selectedTaskId, snap.version]);

  const quit = () => {
    onQuit?.();
    exit();
  };

  const move = (delta: number) => {
    const n = lengths[view];
    if (n === 0) return;
    if (view === "tasks") {
      const i = Math.max(0, Math.min(n - 1, taskIndex + delta));
      setSelTaskId(snap.tasks[i]!.id);
      setSel({ ...sel, tasks: i });
    } else setSel({ ...sel, [view]: Math.max(0, Math.min(n - 1, sel[view] + delta)) });
  };

  const switchView = (v: ViewName) => {
    setView(v);
    setDetailOpen(false);
  };

  const act = async (action: "cancel" | "retry", id: string) => {
    try {
      const t = action === "cancel" ? await store.queue.cancel(id) : await store.queue.retry(id);
      setMessage({ text: `${action === "cancel" ? "cancel" : "retry"}: ${id} is now ${t.status}${t.cancelRequested && t.status !== "cancelled" ? " (cancel requested)" : ""}`, bad: false });
    } catch (e) {
      setMessage({ text: `${action} ${id}: ${(e as Error).message}`, bad: true });
    }
  };

  useInput(
    (input, key) => {
      if (mode.kind === "filter") {
        if (key.escape) return setMode({ kind: "normal" });
        if (key.return) {
          setMode({ kind: "normal" });
          setSelTaskId(null);
          setSel({ ...sel, tasks: 0 });
          void store.setQuery(parseFilter(mode.text, snap.stages.map((s) => s.stage)));
          return;
        }
        if (key.backspace || key.delete) return setMode({ kind: "filter", text: mode.text.slice(0, -1) });
        if (input && !key.ctrl && !key.meta) return setMode({ kind: "filter", text: mode.text + input });
        return;
      }
      if (mode.kind === "confirm") {
        setMode({ kind: "normal" });
        if (input === "y" || input === "Y") void act(mode.action, mode.taskId);
        else setMessage({ text: "not cancelled", bad: false });
        return;
      }
      if (input === "q") return quit();
      if (key.tab) {
        const i = VIEWS.indexOf(view);
        return switchView(VIEWS[(i + (key.shift ? VIEWS.length - 1 : 1)) % VIEWS.length]!);
      }
      if (key.rightArrow || key.leftArrow) {
        const i = VIEWS.indexOf(view);
        return switchView(VIEWS[(i + (key.leftArrow ? VIEWS.length - 1 : 1)) % VIEWS.length]!);
      }
      if (/^[1-5]$/.test(input)) return switchView(VIEWS[Number(input) - 1]!);
      if (key.upArrow || input === "k") return move(-1);
      if (key.downArrow || input === "j") return move(1);
      if (key.pageUp) return move(-10);
      if (key.pageDown) return move(10);
      if (key.home || input === "g") return move(-1e9);
      if (key.end || input === "G") return move(1e9);
      if (key.escape) {
        setDetailOpen(false);
        setMessage(null);
        return;
      }
      if (key.return && view === "tasks") return setDetailOpen(!detailOpen);
      if (input === "/") {
        setView("tasks");
        return setMode({ kind: "filter", text: "" });
      }
      if (input === "c" || input === "r") {
        if (!selectedTaskId) return setMessage({ text: "no task selected (pick one in the tasks or scans view)", bad: true });
        if (input === "c") return setMode({ kind: "confirm", action: "cancel", taskId: selectedTaskId });
        void act("retry", selectedTaskId);
      }
    },
    { isActive: interactive },
  );

  const bodyHeight = Math.max(3, rows - 5);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate">
        <Text bold color={theme.c("cyan")}>
          {title}
        </Text>
        {"  "}
        {VIEWS.map((v, i) => (
          <Text key={v} bold={v === view} inverse={v === view && theme.color} color={v === view ? undefined : theme.c("gray")}>
            {v === view ? `[${i + 1} ${v}]` : ` ${i + 1} ${v} `}
          </Text>
        ))}
        {"  "}
        {snap.error ? <Text color={theme.c("red")}>queue error: {snap.error}</Text> : !snap.loaded ? <Text dimColor>loading…</Text> : null}
      </Text>
      <Box flexDirection="column" height={bodyHeight}>
        {view === "workers" && <WorkersView workers={snap.workers} now={snap.now} theme={theme} selected={sel.workers} height={bodyHeight} />}
        {view === "queues" && <QueuesView stages={snap.stages} theme={theme} />}
        {view === "tasks" && <TasksView tasks={snap.tasks} query={snap.query} now={snap.now} theme={theme} selected={taskIndex} height={bodyHeight} width={cols} detail={detailOpen ? detail : null} />}
        {view === "scans" && <ScansView scans={snap.scans} theme={theme} selected={sel.scans} height={bodyHeight} />}
        {view === "sync" && <SyncView nodes={syncNodes} theme={theme} />}
      </Box>
      {mode.kind === "filter" ? (
        <Text>
          <Text bold>/</Text>
          {mode.text}
          <Text dimColor>_   (stage:NAME status:STATUS or text; enter applies, esc cancels)</Text>
        </Text>
      ) : mode.kind === "confirm" ? (
        <Text color={theme.c("yellow")} bold>
          Cancel task {mode.taskId}? (y/n)
        </Text>
      ) : message ? (
        <Text color={message.bad ? theme.c("red") : theme.c("green")} wrap="truncate">
          {message.text}
        </Text>
      ) : (
        <Text> </Text>
      )}
      <Text dimColor wrap="truncate">
        {interactive ? "tab/←→ view  ↑↓ select  enter detail  / filter  c cancel  r retry  q quit" : "read-only (stdin is not a terminal); ctrl-c to quit"}
      </Text>
    </Box>
  );
}

export interface RunTuiOptions {
  queue: Queue;
  log?: Logger;
  title?: string;
  store?: StoreOptions;
  /** Resolves to stop the TUI from outside (e.g. the worker stopping). */
  until?: Promise<unknown>;
  view?: ViewName;
}

/**
 * Show the TUI on this terminal until `q`, ctrl-c or `until`; restores the terminal on the way out.
 * Used by `falc ui` and by `falc worker` when stdout is a TTY.
 */
export async function runTui(o: RunTuiOptions): Promise<void> {
  const store = new TuiStore(o.queue, o.store);
  await store.start();
  const title = o.title ?? `falc ${o.queue.kind === "redis" ? o.queue.url : "sqlite"}`;
  const instance = render(<App store={store} title={title} initialView={o.view} />, {
    exitOnCtrlC: true,
    patchConsole: true,
    alternateScreen: Boolean(process.stdout.isTTY),
    maxFps: 10,
  });
  const stopOn = (sig: NodeJS.Signals) => {
    o.log?.info({ event: "tui_signal", signal: sig }, "closing the TUI");
    instance.unmount();
  };
  process.once("SIGTERM", stopOn);
  process.once("SIGHUP", stopOn);
  void o.until?.then(() => instance.unmount());
  try {
    await instance.waitUntilExit();
  } finally {
    process.off("SIGTERM", stopOn);
    process.off("SIGHUP", stopOn);
    store.stop();
  }
}
