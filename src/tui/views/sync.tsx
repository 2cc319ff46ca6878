import { Box, Text } from "ink";
import type { Theme } from "../theme.ts";

export interface SyncNode {
  name: string;
  lastSyncAt: number | null;
  state: string;
  /** Entries of the node's own tree it leaves alone (its last integrity sync): the first few, and how many in all. */
  refused?: { path: string; why: string }[];
  refusedCount?: number;
  /** The node's last failed sync, kept when later ones succeed. */
  lastError?: { at: number; error: string } | null;
}

export interface SyncViewProps {
  /** null: no master reachable (no status client yet, or it did not answer). */
  nodes: SyncNode[] | null;
  theme: Theme;
}

/** Refused entries named per node, at most this many (the rest counted), so a node with thousands stays one screen. */
export const REFUSED_LINES = 5;

export function SyncView({ nodes, theme }: SyncViewProps) {
  return (
    <Box flexDirection="column">
      <Text bold>sync</Text>
      {nodes === null ? (
        <Text color={theme.c("yellow")}> no master reachable</Text>
      ) : (
        nodes.map((n) => <NodeRows key={n.name} n={n} theme={theme} />)
      )}
    </Box>
  );
}

function NodeRows({ n, theme }: { n: SyncNode; theme: Theme }) {
  const refused = n.refused ?? [];
  const count = Math.max(n.refusedCount ?? 0, refused.length);
  const shown = refused.slice(0, REFUSED_LINES);
  return (
    <Box flexDirection="column">
      <Text>
        {"  " + n.name + "  " + n.state + "  " + (n.lastSyncAt ? new Date(n.lastSyncAt).toISOString() : "never") + (count ? `  refused ${count}` : "")}
      </Text>
      {shown.map((r) => (
        <Text key={r.path} color={theme.c("yellow")}>
          {"    refused  " + r.path + "  (" + r.why + ")"}
        </Text>
      ))}
      {count > shown.length ? <Text color={theme.c("yellow")}>{`    … and ${count - shown.length} more (falc sync status)`}</Text> : null}
      {n.lastError ? (
        <Text color={theme.c("red")}>{"    last error  " + new Date(n.lastError.at).toISOString() + "  " + n.lastError.error.slice(0, 120)}</Text>
      ) : null}
    </Box>
  );
}
