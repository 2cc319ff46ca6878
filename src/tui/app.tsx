import { Box, render, Text, useApp, useInput, useStdout, type Key } from "ink";
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
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
  /** Where the data comes from (the queue URL), shown after the tabs. */
  source?: string;
  theme?: Theme;
  /** Listen to keys; default only when stdin is a TTY (ink cannot read keys otherwise). */
  interactive?: boolean;
  initialView?: ViewName;
  /** Sync nodes when a master is reachable; null shows "no master reachable". */
  syncNodes?: SyncNode[] | null;
  /** Asked every `syncEveryMs` while the sync view shows (e.g. a sync status client); null = no master reachable. */
  syncSource?: () => Promise<SyncNode[] | null>;
  syncEveryMs?: number;
  onQuit?: () => void;
}

interface UiState {
  view: ViewName;
  sel: Record<ViewName, number>;
  selTaskId: string | null;
  /** The scans list reorders (running first): the selection follows the scan, not the row. */
  selScanId: string | null;
  mode: Mode;
  message: { text: string; bad: boolean } | null;
  detailOpen: boolean;
  helpOpen: boolean;
}

type Mode =
  | { kind: "normal" }
  | { kind: "filter"; text: string }
  | { kind: "confirm"; action: "cancel"; taskId: string };

export function App({
  store,
  title = "falc",
  source,
  theme = makeTheme(),
  interactive = Boolean(process.stdin.isTTY),
  initialView = "workers",
  syncNodes: syncNodesProp = null,
  syncSource,
  syncEveryMs = 5000,
  onQuit,
}: AppProps) {
  const snap = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const rows = (stdout as NodeJS.WriteStream | undefined)?.rows || 24;
  const cols = (stdout as NodeJS.WriteStream | undefined)?.columns || 100;
  // UI state lives in a ref so several keys in one read (a paste, fast typing) each see the last change.
  const ui = useRef<UiState>({
    view: initialView,
    sel: { workers: 0, queues: 0, tasks: 0, scans: 0, sync: 0 },
    selTaskId: null,
    selScanId: null,
    mode: { kind: "normal" },
    message: null,
    detailOpen: false,
    helpOpen: false,
  });
  const [, setTick] = useState(0);
  const update = (p: Partial<UiState>) => {
    ui.current = { ...ui.current, ...p };
    setTick((n) => n + 1);
  };
  const { view, sel, mode, message, detailOpen, helpOpen } = ui.current;
  const [detail, setDetail] = useState<Task | null>(null);
  const [polledSync, setPolledSync] = useState<SyncNode[] | null>(null);
  const syncNodes = syncSource ? polledSync : syncNodesProp;

  useEffect(() => {
    if (!syncSource || view !== "sync") return;
    let live = true;
    const poll = () =>
      syncSource().then(
        (n) => live && setPolledSync(n),
        () => live && setPolledSync(null),
      );
    void poll();
    const t = setInterval(poll, syncEveryMs);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [syncSource, view, syncEveryMs]);

  // Derived from the current UI state and snapshot; handlers call it again after each key.
  const derive = (u: UiState) => {
    const i = u.selTaskId
      ? snap.tasks.findIndex((t) => t.id === u.selTaskId)
      : -1;
    // The tasks view keeps its selection on the same task while new ones arrive above it.
    const taskIndex =
      i >= 0 ? i : Math.min(u.sel.tasks, Math.max(0, snap.tasks.length - 1));
    const j = u.selScanId
      ? snap.scans.findIndex((x) => x.taskId === u.selScanId)
      : -1;
    const scanIndex =
      j >= 0 ? j : Math.min(u.sel.scans, Math.max(0, snap.scans.length - 1));
    const selectedTaskId =
      u.view === "tasks"
        ? (snap.tasks[taskIndex]?.id ?? null)
        : u.view === "scans"
          ? (snap.scans[scanIndex]?.taskId ?? null)
          : u.view === "workers"
            ? (workers[u.sel.workers]?.taskId ?? null)
            : null;
    return { taskIndex, scanIndex, selectedTaskId };
  };
  const workers = sortWorkers(snap.workers);
  const lengths: Record<ViewName, number> = {
    workers: workers.length,
    queues: snap.stages.length,
    tasks: snap.tasks.length,
    scans: snap.scans.length,
    sync: 0,
  };
  const { taskIndex, scanIndex, selectedTaskId } = derive(ui.current);

  useEffect(() => {
    if (!detailOpen || view !== "tasks" || !selectedTaskId)
      return setDetail(null);
    let live = true;
    void store.queue.get(selectedTaskId).then(
      (t) => live && setDetail(t),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [detailOpen, view, selectedTaskId, snap.version]);

  const quit = () => {
    onQuit?.();
    exit();
  };

  const move = (delta: number) => {
    const u = ui.current;
    const n = lengths[u.view];
    if (n === 0) return;
    if (u.view === "tasks") {
      const i = Math.max(0, Math.min(n - 1, derive(u).taskIndex + delta));
      update({ selTaskId: snap.tasks[i]!.id, sel: { ...u.sel, tasks: i } });
    } else if (u.view === "scans") {
      const i = Math.max(0, Math.min(n - 1, derive(u).scanIndex + delta));
      update({ selScanId: snap.scans[i]!.taskId, sel: { ...u.sel, scans: i } });
    } else
      update({
        sel: {
          ...u.sel,
          [u.view]: Math.max(0, Math.min(n - 1, u.sel[u.view] + delta)),
        },
      });
  };

  const switchView = (v: ViewName) => update({ view: v, detailOpen: false });

  const act = async (action: "cancel" | "retry", id: string) => {
    try {
      const t =
        action === "cancel"
          ? await store.queue.cancel(id)
          : await store.queue.retry(id);
      update({
        message: {
          text: `${action}: ${id} is now ${t.status}${t.cancelRequested && t.status !== "cancelled" ? " (cancel requested)" : ""}`,
          bad: false,
        },
      });
    } catch (e) {
      update({
        message: {
          text: `${action} ${id}: ${(e as Error).message}`,
          bad: true,
        },
      });
    }
  };

  const handle = (input: string, key: Key): void => {
    // A pasted or fast-typed chunk arrives as one string: take it a key at a time.
    if (input.length > 1 && !key.ctrl && !key.meta && !key.escape) {
      for (const ch of input)
        handle(ch, {
          ...key,
          tab: ch === "\t",
          return: ch === "\r" || ch === "\n",
        });
      return;
    }
    const u = ui.current;
    const mode = u.mode;
    if (mode.kind === "filter") {
      if (key.escape) return update({ mode: { kind: "normal" } });
      if (key.return) {
        update({
          mode: { kind: "normal" },
          selTaskId: null,
          sel: { ...u.sel, tasks: 0 },
        });
        void store.setQuery(
          parseFilter(
            mode.text,
            snap.stages.map((s) => s.stage),
          ),
        );
        return;
      }
      if (key.backspace || key.delete)
        return update({
          mode: { kind: "filter", text: mode.text.slice(0, -1) },
        });
      if (input && !key.ctrl && !key.meta)
        return update({ mode: { kind: "filter", text: mode.text + input } });
      return;
    }
    if (mode.kind === "confirm") {
      if (input === "y" || input === "Y") {
        update({ mode: { kind: "normal" }, message: null });
        void act(mode.action, mode.taskId);
      } else
        update({
          mode: { kind: "normal" },
          message: { text: "not cancelled", bad: false },
        });
      return;
    }
    if (input === "q") return quit();
    if (input === "?") return update({ helpOpen: !u.helpOpen });
    const vi = VIEWS.indexOf(u.view);
    if (key.tab)
      return switchView(
        VIEWS[(vi + (key.shift ? VIEWS.length - 1 : 1)) % VIEWS.length]!,
      );
    if (key.rightArrow || key.leftArrow)
      return switchView(
        VIEWS[(vi + (key.leftArrow ? VIEWS.length - 1 : 1)) % VIEWS.length]!,
      );
    if (/^[1-5]$/.test(input)) return switchView(VIEWS[Number(input) - 1]!);
    if (key.upArrow || input === "k") return move(-1);
    if (key.downArrow || input === "j") return move(1);
    if (key.pageUp) return move(-10);
    if (key.pageDown) return move(10);
    if (key.home || input === "g") return move(-1e9);
    if (key.end || input === "G") return move(1e9);
    if (key.escape)
      return update({ detailOpen: false, message: null, helpOpen: false });
    if (key.return && u.view === "tasks")
      return update({ detailOpen: !u.detailOpen });
    if (input === "/")
      return update({ view: "tasks", mode: { kind: "filter", text: "" } });
    if (input === "c" || input === "r") {
      const id = derive(u).selectedTaskId;
      if (!id)
        return update({
          message: {
            text: "no task selected (pick one in the tasks or scans view)",
            bad: true,
          },
        });
      if (input === "c")
        return update({
          mode: { kind: "confirm", action: "cancel", taskId: id },
        });
      void act("retry", id);
    }
  };
  useInput(handle, { isActive: interactive });

  const bodyHeight = Math.max(3, rows - 4);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate">
        <Text bold color={theme.c("cyan")}>
          {title}
        </Text>
        {"  "}
        {VIEWS.map((v, i) => (
          <Text
            key={v}
            bold={v === view}
            inverse={v === view && theme.color}
            color={v === view ? undefined : theme.c("gray")}
          >
            {v === view ? `[${i + 1} ${v}]` : ` ${i + 1} ${v} `}
          </Text>
        ))}
        {"  "}
        {source ? <Text dimColor>{source + "  "}</Text> : null}
        {snap.error ? (
          <Text color={theme.c("red")}>queue error: {snap.error}</Text>
        ) : !snap.loaded ? (
          <Text dimColor>loading…</Text>
        ) : null}
      </Text>
      <Box flexDirection="column" height={bodyHeight} overflow="hidden">
        {helpOpen && <Help />}
        {!helpOpen && view === "workers" && (
          <WorkersView
            workers={snap.workers}
            now={snap.now}
            theme={theme}
            selected={sel.workers}
            height={bodyHeight}
          />
        )}
        {!helpOpen && view === "queues" && (
          <QueuesView stages={snap.stages} theme={theme} />
        )}
        {!helpOpen && view === "tasks" && (
          <TasksView
            tasks={snap.tasks}
            query={snap.query}
            now={snap.now}
            theme={theme}
            selected={taskIndex}
            height={bodyHeight}
            width={cols}
            detail={detailOpen ? detail : null}
          />
        )}
        {!helpOpen && view === "scans" && (
          <ScansView
            scans={snap.scans}
            theme={theme}
            selected={scanIndex}
            height={bodyHeight}
          />
        )}
        {!helpOpen && view === "sync" && (
          <SyncView nodes={syncNodes} theme={theme} />
        )}
      </Box>
      {mode.kind === "filter" ? (
        <Text>
          <Text bold>/</Text>
          {mode.text}
          <Text dimColor>
            _ (stage:NAME status:STATUS or text; enter applies, esc cancels)
          </Text>
        </Text>
      ) : mode.kind === "confirm" ? (
        <Text color={theme.c("yellow")} bold>
          Cancel task {mode.taskId}? (y/n)
        </Text>
      ) : message ? (
        <Text
          color={message.bad ? theme.c("red") : theme.c("green")}
          wrap="truncate"
        >
          {message.text}
        </Text>
      ) : (
        <Text> </Text>
      )}
      <Text dimColor wrap="truncate">
        {interactive
          ? "tab/←→ view  ↑↓ select  enter detail  / filter  c cancel  r retry  ? help  q quit"
          : "read-only (stdin is not a terminal); ctrl-c to quit"}
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
  /** Nodes and last syncs from a sync master, when one is reachable (null otherwise). */
  sync?: () => Promise<SyncNode[] | null>;
}

/**
 * Show the TUI on this terminal until `q`, ctrl-c or `until`; restores the terminal on the way out.
 * Used by `falc ui` and by `falc worker` when stdout is a TTY.
 */
export async function runTui(o: RunTuiOptions): Promise<void> {
  const store = new TuiStore(o.queue, o.store);
  await store.start();
  const title = o.title ?? "falc";
  const instance = render(
    <App
      store={store}
      title={title}
      source={o.queue.url}
      initialView={o.view}
      syncSource={o.sync}
    />,
    {
      exitOnCtrlC: true,
      patchConsole: true,
      // ink turns itself non-interactive (final frame only) whenever CI is set; someone who opened
      // the TUI on a terminal wants it drawn live, CI pipelines with a tmux pane included.
      interactive: Boolean(process.stdout.isTTY),
      alternateScreen: Boolean(process.stdout.isTTY),
      maxFps: 10,
    },
  );
  // A signal (or ctrl-c when stdin is not a terminal, so ink cannot see the key) closes the TUI
  // the same way `q` does, so the terminal is always restored.
  let signal: NodeJS.Signals | null = null;
  const stopOn = (sig: NodeJS.Signals) => {
    signal = sig;
    instance.unmount();
  };
  const sigs: NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGINT"];
  for (const s of sigs) process.once(s, stopOn);
  void o.until?.then(() => instance.unmount());
  try {
    await instance.waitUntilExit();
  } finally {
    for (const s of sigs) process.off(s, stopOn);
    const sig = signal as NodeJS.Signals | null;
    if (sig)
      o.log?.info(
        { event: "tui_closed", signal: sig },
        `${sig}: closed the TUI`,
      );
    store.stop();
  }
}

const HELP: [string, string][] = [
  ["tab, →  / shift-tab, ←", "next / previous view (1-5 jump to one)"],
  ["↑ ↓  k j  pgup pgdn  g G", "move the selection"],
  [
    "enter",
    "tasks view: open or close the detail pane (payload, result, error)",
  ],
  [
    "/",
    "filter tasks: stage:NAME status:STATUS, a bare status or stage, or text",
  ],
  [
    "c",
    "cancel the selected task (tasks, scans, or a worker's current task); asks y/n",
  ],
  ["r", "retry the selected task (failed or cancelled)"],
  ["esc", "close the detail pane, help or message"],
  ["q, ctrl-c", "quit"],
];

function Help() {
  return (
    <Box flexDirection="column" borderStyle="single" paddingX={1}>
      <Text bold>keys</Text>
      {HELP.map(([k, d]) => (
        <Text key={k} wrap="truncate">
          {k.padEnd(26) + d}
        </Text>
      ))}
    </Box>
  );
}
