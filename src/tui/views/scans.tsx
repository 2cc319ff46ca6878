import { Box, Text } from "ink";
import type { ScanProgress } from "../store.ts";
import { bar, fit, pct, visibleWindow } from "../format.ts";
import { TASK_STATUS_COLOR, type Theme } from "../theme.ts";

export interface ScansViewProps {
  scans: ScanProgress[];
  theme: Theme;
  selected: number;
  height: number;
}

export function ScansView({ scans, theme, selected, height }: ScansViewProps) {
  const running = scans.filter(
    (s) => s.status === "started" || s.status === "requested",
  ).length;
  const [a, b] = visibleWindow(scans.length, selected, Math.max(1, height - 2));
  return (
    <Box flexDirection="column">
      <Text bold>
        scans {scans.length} ({running} running)
      </Text>
      <Text bold wrap="truncate">
        {"  " +
          fit("TARGET", 22) +
          " " +
          fit("STATUS", 10) +
          " " +
          fit("PROGRESS", 27) +
          " " +
          fit("OPEN", 5, true) +
          " " +
          fit("PHASE", 18) +
          " " +
          fit("TASK", 22)}
      </Text>
      {scans.length === 0 && (
        <Text dimColor>
          {" "}
          no scan tasks (submit one with `falc scan ... --submit` or `falc tasks
          submit scan`)
        </Text>
      )}
      {scans.slice(a, b).map((s, i) => {
        const sel = a + i === selected;
        return (
          <Text key={s.taskId} wrap="truncate" inverse={sel && theme.color}>
            {(sel ? "> " : "  ") + fit(s.target || "…", 22) + " "}
            <Text color={theme.c(TASK_STATUS_COLOR[s.status])}>
              {fit(s.status, 10)}
            </Text>{" "}
            <Text color={theme.c(s.status === "failed" ? "red" : "green")}>
              {bar(s.fraction, 20)}
            </Text>
            {" " +
              fit(pct(s.fraction), 6, true) +
              " " +
              fit(s.openPorts, 5, true) +
              " " +
              fit(s.note, 18) +
              " " +
              fit(s.taskId, 22)}
          </Text>
        );
      })}
    </Box>
  );
}
