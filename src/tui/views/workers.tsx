import { Box, Text } from "ink";
import type { WorkerRecord } from "../../core/worker-state.ts";
import { WORKER_STATES } from "../../core/worker-state.ts";
import { fit, since, visibleWindow } from "../format.ts";
import { WORKER_STATE_COLOR, type Theme } from "../theme.ts";

export interface WorkersViewProps {
  workers: WorkerRecord[];
  now: number;
  theme: Theme;
  selected: number;
  height: number;
}

/** Handlers first, then children by stage and name. */
export function sortWorkers(ws: WorkerRecord[]): WorkerRecord[] {
  return ws
    .slice()
    .sort(
      (a, b) =>
        (a.kind === b.kind ? 0 : a.kind === "handler" ? -1 : 1) ||
        a.stage.localeCompare(b.stage) ||
        a.name.localeCompare(b.name, undefined, { numeric: true }),
    );
}

export function WorkersView({
  workers,
  now,
  theme,
  selected,
  height,
}: WorkersViewProps) {
  const list = sortWorkers(workers);
  const counts = WORKER_STATES.map(
    (s) =>
      [
        s,
        list.filter((w) => w.kind === "child" && w.state === s).length,
      ] as const,
  ).filter(([, n]) => n > 0);
  // Names like `pre0@host:pid` are long: the column fits the longest, within reason.
  const nw = Math.min(32, Math.max(12, ...list.map((w) => w.name.length)));
  const [a, b] = visibleWindow(list.length, selected, Math.max(1, height - 2));
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>workers {list.length}</Text>
        {counts.map(([s, n]) => (
          <Text key={s}>
            {"  "}
            <Text color={theme.c(WORKER_STATE_COLOR[s])}>{s}</Text> {n}
          </Text>
        ))}
      </Text>
      <Text bold wrap="truncate">
        {"  " +
          fit("NAME", nw) +
          " " +
          fit("HOST", 12) +
          " " +
          fit("STAGE", 12) +
          " " +
          fit("STATE", 12) +
          " " +
          fit("TASK", 22) +
          " " +
          fit("ELAPSED", 7) +
          " " +
          fit("RESTARTS", 8, true)}
      </Text>
      {list.length === 0 && (
        <Text dimColor>
          {" "}
          no workers registered (start one with `falc worker --stage ...`)
        </Text>
      )}
      {list.slice(a, b).map((w, i) => {
        const sel = a + i === selected;
        return (
          <Text key={w.name} wrap="truncate" inverse={sel && theme.color}>
            {(sel ? "> " : "  ") +
              fit(w.name, nw) +
              " " +
              fit(w.host, 12) +
              " " +
              fit(w.stage, 12) +
              " "}
            <Text color={theme.c(WORKER_STATE_COLOR[w.state] ?? "white")}>
              {fit(w.state, 12)}
            </Text>{" "}
            {w.error && !w.taskId ? (
              <Text color={theme.c("red")}>{fit(w.error, 22)}</Text>
            ) : (
              fit(w.taskId, 22)
            )}
            {" " + fit(since(w.since, now), 7) + " " + fit(w.restarts, 8, true)}
          </Text>
        );
      })}
    </Box>
  );
}
