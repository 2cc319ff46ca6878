import { Box, Text } from "ink";
import type { Theme } from "../theme.ts";

export interface SyncNode {
  name: string;
  lastSyncAt: number | null;
  state: string;
}

export interface SyncViewProps {
  /** null: no master reachable (no status client yet, or it did not answer). */
  nodes: SyncNode[] | null;
  theme: Theme;
}

export function SyncView({ nodes, theme }: SyncViewProps) {
  return (
    <Box flexDirection="column">
      <Text bold>sync</Text>
      {nodes === null ? (
        <Text color={theme.c("yellow")}> no master reachable</Text>
      ) : (
        nodes.map((n) => (
          <Text key={n.name}>
            {"  " +
              n.name +
              "  " +
              n.state +
              "  " +
              (n.lastSyncAt ? new Date(n.lastSyncAt).toISOString() : "never")}
          </Text>
        ))
      )}
    </Box>
  );
}
