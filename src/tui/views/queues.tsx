import { Box, Text } from "ink";
import type { StageRow } from "../store.ts";
import { fit } from "../format.ts";
import type { Theme } from "../theme.ts";

export interface QueuesViewProps {
  stages: StageRow[];
  theme: Theme;
}

export function QueuesView({ stages, theme }: QueuesViewProps) {
  const head =
    fit("STAGE", 16) +
    " " +
    [
      "QUEUED",
      "STARTED",
      "FINISHED",
      "FAILED",
      "CANCELLED",
      "FAILED/1H",
      "DONE/MIN",
    ]
      .map((h) => fit(h, 10, true))
      .join(" ");
  return (
    <Box flexDirection="column">
      <Text bold>queues {stages.length}</Text>
      <Text bold wrap="truncate">
        {"  " + head}
      </Text>
      {stages.length === 0 && <Text dimColor> no tasks yet</Text>}
      {stages.map((s) => (
        <Text key={s.stage} wrap="truncate">
          {"  " + fit(s.stage, 16) + " "}
          <Text color={theme.c("blue")}>{fit(s.queued, 10, true)}</Text>{" "}
          <Text color={theme.c("green")}>{fit(s.started, 10, true)}</Text>{" "}
          {fit(s.finished, 10, true)}{" "}
          <Text color={s.failed ? theme.c("red") : undefined}>
            {fit(s.failed, 10, true)}
          </Text>{" "}
          {fit(s.cancelled, 10, true)}{" "}
          <Text color={s.failedLastHour ? theme.c("red") : undefined}>
            {fit(s.failedLastHour, 10, true)}
          </Text>{" "}
          {fit(s.perMinute.toFixed(1), 10, true)}
        </Text>
      ))}
    </Box>
  );
}
