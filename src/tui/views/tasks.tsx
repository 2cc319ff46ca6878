import { Box, Text } from "ink";
import type { Task } from "../../core/task.ts";
import { describeQuery, type TaskQuery } from "../store.ts";
import { fit, oneLine, pct, since, visibleWindow } from "../format.ts";
import { TASK_STATUS_COLOR, type Theme } from "../theme.ts";

export interface TasksViewProps {
  tasks: Task[];
  query: TaskQuery;
  now: number;
  theme: Theme;
  selected: number;
  height: number;
  width: number;
  /** The selected task, fully loaded, when the detail pane is open. */
  detail: Task | null;
}

export function TasksView({
  tasks,
  query,
  now,
  theme,
  selected,
  height,
  width,
  detail,
}: TasksViewProps) {
  const listHeight = Math.max(
    1,
    (detail ? Math.floor(height / 2) : height) - 2,
  );
  const [a, b] = visibleWindow(tasks.length, selected, listHeight);
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>tasks {tasks.length}</Text>
        {"  filter: " + describeQuery(query)}
      </Text>
      <Text bold wrap="truncate">
        {"  " +
          fit("ID", 22) +
          " " +
          fit("STAGE", 14) +
          " " +
          fit("STATUS", 10) +
          " " +
          fit("ATT", 3, true) +
          " " +
          fit("WORKER", 13) +
          " " +
          fit("AGE", 8) +
          " " +
          fit("PROGRESS", 20)}
      </Text>
      {tasks.length === 0 && <Text dimColor> no tasks match</Text>}
      {tasks.slice(a, b).map((t, i) => {
        const sel = a + i === selected;
        const prog =
          t.progress !== null &&
          (t.status === "started" || t.status === "requested")
            ? `${pct(t.progress)} ${t.progressNote ?? ""}`
            : (t.error?.message ?? "");
        return (
          <Text key={t.id} wrap="truncate" inverse={sel && theme.color}>
            {(sel ? "> " : "  ") + fit(t.id, 22) + " " + fit(t.stage, 14) + " "}
            <Text color={theme.c(TASK_STATUS_COLOR[t.status])}>
              {fit(t.status, 10)}
            </Text>
            {" " +
              fit(t.attempts, 3, true) +
              " " +
              fit(t.worker, 13) +
              " " +
              fit(since(t.createdAt, now), 8) +
              " " +
              fit(prog, 20)}
          </Text>
        );
      })}
      {detail && (
        <TaskDetail task={detail} now={now} theme={theme} width={width} />
      )}
    </Box>
  );
}

export function TaskDetail({
  task,
  now,
  theme,
  width,
}: {
  task: Task;
  now: number;
  theme: Theme;
  width: number;
}) {
  const w = Math.max(20, width - 14);
  return (
    <Box flexDirection="column" borderStyle="single" paddingX={1}>
      <Text bold>
        {task.id}{" "}
        <Text color={theme.c(TASK_STATUS_COLOR[task.status])}>
          {task.status}
        </Text>
      </Text>
      <Text wrap="truncate">
        {"stage:    " +
          task.stage +
          "   attempts: " +
          task.attempts +
          "/" +
          task.maxAttempts +
          "   priority: " +
          task.priority}
      </Text>
      <Text wrap="truncate">
        {"times:    created " +
          since(task.createdAt, now) +
          " ago, started " +
          (task.startedAt ? since(task.startedAt, now) + " ago" : "-") +
          ", finished " +
          (task.finishedAt ? since(task.finishedAt, now) + " ago" : "-")}
      </Text>
      <Text wrap="truncate">
        {"worker:   " +
          (task.worker ?? "-") +
          (task.cancelRequested ? "   (cancel requested)" : "")}
      </Text>
      <Text wrap="truncate">{"payload:  " + oneLine(task.payload, w)}</Text>
      <Text wrap="truncate">{"result:   " + oneLine(task.result, w)}</Text>
      <Text wrap="truncate" color={task.error ? theme.c("red") : undefined}>
        {"error:    " +
          (task.error
            ? oneLine(
                `${task.error.code ? task.error.code + ": " : ""}${task.error.message}`,
                w,
              )
            : "-")}
      </Text>
    </Box>
  );
}
