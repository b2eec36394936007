/**
 * A test run (the editor's): outputs pinned in the draft stood in for their nodes, which were not run. The run's
 * first event says which (`ExecutionStarted.trigger_meta.pinned`); the execution view carries only `test`.
 */
import { Alert, Badge, Text, Tooltip } from "@mantine/core";
import { IconFlask, IconPin } from "@tabler/icons-react";
import type { ExecutionEvent } from "@/lib/definition";

export function pinnedNodes(events: ExecutionEvent[]): string[] {
  const started = events.find((event) => event.type === "ExecutionStarted");
  const meta = (started?.data as { trigger_meta?: { pinned?: unknown } } | undefined)?.trigger_meta;
  return Array.isArray(meta?.pinned) ? meta.pinned.filter((node): node is string => typeof node === "string") : [];
}

export function TestRunBadge() {
  return (
    <Tooltip label="a test run from the editor: pinned outputs stood in for their nodes" withArrow>
      <Badge color="grape" variant="light" leftSection={<IconFlask size={12} />} data-testid="test-run-badge">
        test run
      </Badge>
    </Tooltip>
  );
}

/** In the node tab: this node's output is the pin it had when the run started. */
export function PinnedNotRun({ node }: { node: string }) {
  return (
    <Alert color="grape" p={8} icon={<IconPin size={16} />} data-testid="node-pinned">
      <Text size="sm">
        <b>{node}</b>: pinned output, not run
      </Text>
      <Text size="xs" c="dimmed">
        The output below was pinned in the editor; the node itself did not run.
      </Text>
    </Alert>
  );
}
