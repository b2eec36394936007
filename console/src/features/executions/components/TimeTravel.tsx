/**
 * The time-travel view: a slider over the execution's log that shows the run as it stood after event k
 * (`GET /executions/{id}/state?at=k`). At the last event it shows the live execution.
 */
import { Badge, Group, Slider, Stack, Text } from "@mantine/core";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { StatusBadge } from "@/components/status";
import type { Execution, ExecutionEvent } from "@/lib/definition";
import { executionKeys, fetchState } from "@/lib/queries";

const FINISHED = new Set(["succeeded", "failed", "skipped"]);

export function finishedCount(execution: Execution | undefined): number {
  return Object.values(execution?.nodes ?? {}).filter((node) => FINISHED.has(node.status)).length;
}

export function eventNode(event: ExecutionEvent | undefined): string | undefined {
  const data = (event?.data ?? {}) as { node_id?: string; node_ids?: string[] };
  return data.node_id ?? data.node_ids?.join(", ");
}

/** The execution as it stood after event `at`; the latest one when `at` is null or the last event. */
export function useExecutionAt(executionId: string, at: number | null, total: number, latest: Execution | undefined) {
  const past = at !== null && at < total;
  const state = useQuery({
    queryKey: executionKeys.state(executionId, at ?? 0),
    queryFn: () => fetchState(executionId, at!),
    enabled: past,
    placeholderData: keepPreviousData,
    staleTime: Infinity, // the past does not change
  });
  return past ? state.data : latest;
}

export function TimeTravel(props: {
  executionId: string;
  events: ExecutionEvent[];
  at: number | null;
  onAtChange: (at: number | null) => void;
  latest: Execution | undefined;
  onShown?: (execution: Execution | undefined) => void;
}) {
  const total = props.events.length;
  const shown = useExecutionAt(props.executionId, props.at, total, props.latest);
  const { onShown } = props;
  useEffect(() => {
    onShown?.(shown);
  }, [shown, onShown]);
  const position = props.at === null ? total : Math.min(props.at, total);
  const event = props.events[position - 1];
  const nodes = Object.entries(shown?.nodes ?? {});
  if (total === 0) return <Text size="sm" c="dimmed">No events yet.</Text>;
  return (
    <Stack gap={6} data-testid="time-travel">
      <Group justify="space-between">
        <Text size="sm" fw={600}>
          Time travel
        </Text>
        <Text size="xs" c="dimmed" data-testid="time-travel-position">
          after event {position} of {total}
          {event ? ` · ${event.type}${eventNode(event) ? ` (${eventNode(event)})` : ""}` : ""}
          {position === total ? " · latest" : ""}
        </Text>
      </Group>
      <Slider
        min={1}
        max={Math.max(total, 1)}
        step={1}
        value={position}
        onChange={(value) => props.onAtChange(value >= total ? null : value)}
        label={(value) => `event ${value}`}
        marks={total <= 40 ? props.events.map((e) => ({ value: e.seq })) : undefined}
        size="sm"
        thumbProps={{ "aria-label": "event", "data-testid": "time-travel-thumb" } as React.HTMLAttributes<HTMLDivElement>}
      />
      <Group gap={6} mt={4} data-testid="time-travel-nodes">
        <Badge variant="outline" size="sm" data-testid="finished-count">
          {finishedCount(shown)} of {nodes.length} nodes finished
        </Badge>
        {nodes.map(([id, node]) => (
          <Group key={id} gap={2} data-testid={`tt-node-${id}`} data-status={node.status}>
            <Text size="xs">{id}</Text>
            <StatusBadge status={node.status} size="xs" />
          </Group>
        ))}
      </Group>
    </Stack>
  );
}
