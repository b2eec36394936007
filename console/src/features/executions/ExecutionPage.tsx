/**
 * The run inspector: the graph with node states, the event log, live updates over the SSE stream, the
 * time-travel slider (`?at=<seq>` in the link), and from any node: replay from here; retry; cancel; a paused debug
 * run's Step and Continue.
 */
import { Alert, Anchor, Badge, Button, Center, Code, Group, Loader, ScrollArea, Stack, Table, Tabs, Text } from "@mantine/core";
import { modals } from "@mantine/modals";
import { notifications } from "@mantine/notifications";
import { IconPlayerStop, IconRefresh, IconRepeat } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { JsonView } from "@/components/data";
import { RunGraph } from "@/components/graph/RunGraph";
import { NodeRun } from "@/components/node-run";
import { StatusBadge } from "@/components/status";
import { duration, when } from "@/components/time";
import { client, unwrap } from "@/lib/api-client";
import { useCan } from "@/lib/auth";
import { definitionOf, type Execution } from "@/lib/definition";
import { TERMINAL, useCatalog, useExecution } from "@/lib/queries";
import { useExecutionStream } from "@/lib/sse";
import { cancel, replay, retry, useEvents } from "./api";
import { DebugControls } from "./components/DebugControls";
import { PinnedNotRun, TestRunBadge, pinnedNodes } from "./components/PinnedNodes";
import { ReplayModal } from "./components/ReplayModal";
import { CompareRuns } from "./components/RunDiff";
import { TimeTravel, eventNode } from "./components/TimeTravel";

function parseAt(value: string | null): number | null {
  return value && /^\d+$/.test(value) ? Number(value) : null;
}

export function ExecutionPage() {
  const { executionId } = useParams();
  const id = executionId!;
  const [search, setSearch] = useSearchParams();
  const atParam = search.get("at");
  // the slider moves a local value at once; the link (?at=) follows it
  const [at, setAtValue] = useState<number | null>(parseAt(atParam));
  const written = useRef<string | null>(atParam);
  useEffect(() => {
    if (atParam !== written.current) {
      written.current = atParam;
      setAtValue(parseAt(atParam)); // the link changed from outside (a shared link, back/forward)
    }
  }, [atParam]);
  const navigate = useNavigate();
  const canOperate = useCan("operator");

  const execution = useExecution(id);
  const live = !!execution.data && !TERMINAL.has(execution.data.status);
  useExecutionStream(id, live);
  const events = useEvents(id, execution.data?.events);
  const catalog = useCatalog();
  const version = useQuery({
    queryKey: ["workflows", execution.data?.workflow_id, execution.data?.workflow_version],
    enabled: !!execution.data,
    staleTime: Infinity,
    queryFn: () =>
      unwrap(
        client.GET("/api/v1/workflows/{workflow_id}/versions/{version}", {
          params: { path: { workflow_id: execution.data!.workflow_id, version: execution.data!.workflow_version } },
        }),
      ),
  });

  const [shown, setShown] = useState<Execution | undefined>(undefined);
  const [selected, setSelected] = useState<string | null>(null);
  const [replaying, setReplaying] = useState<string | null>(null);
  const [tab, setTab] = useState<string | null>("log");
  const logRow = useRef<HTMLTableRowElement | null>(null);

  const setAt = useCallback(
    (next: number | null) => {
      setAtValue(next);
      const params = new URLSearchParams(window.location.search);
      if (next === null) params.delete("at");
      else params.set("at", String(next));
      written.current = params.get("at");
      setSearch(params, { replace: true });
    },
    [setSearch],
  );

  const items = useMemo(() => events.data?.items ?? [], [events.data]);
  const pinned = useMemo(() => pinnedNodes(items), [items]);
  const position = at === null ? items.length : Math.min(at, items.length);
  useEffect(() => {
    logRow.current?.scrollIntoView({ block: "nearest" });
  }, [position]);

  if (execution.isLoading) {
    return (
      <Center h="100%">
        <Loader />
      </Center>
    );
  }
  if (execution.error || !execution.data) {
    return (
      <Alert color="red" m="lg" title="Cannot open the execution">
        {execution.error?.message ?? "not found"}
      </Alert>
    );
  }
  const run = execution.data;
  const definition = version.data ? definitionOf(version.data) : undefined;
  const view = shown ?? run;
  const node = selected ? view.nodes[selected] : undefined;

  const act = async (what: () => Promise<string | void>, done: string) => {
    try {
      const child = await what();
      notifications.show({ color: "green", message: done });
      if (child) navigate(`/executions/${child}`);
    } catch (error) {
      notifications.show({ color: "red", message: String((error as Error).message) });
    }
  };

  return (
    <div style={{ display: "flex", flexDirection: "column", height: "calc(100vh - 52px)" }}>
      <Group px="md" py={8} justify="space-between" style={{ borderBottom: "1px solid var(--mantine-color-gray-3)" }} wrap="nowrap">
        <Stack gap={2}>
          <Group gap="xs">
            <Text fw={700}>Execution</Text>
            <Text size="sm" ff="monospace" c="dimmed">
              {run.id.slice(0, 8)}
            </Text>
            <span data-testid="execution-status">
              <StatusBadge status={run.status} />
            </span>
            {run.test && <TestRunBadge />}
            {live && (
              <Badge color="blue" variant="dot" data-testid="live">
                live
              </Badge>
            )}
          </Group>
          <Group gap="md">
            <Text size="xs" c="dimmed">
              workflow{" "}
              <Anchor component={Link} to={`/workflows/${run.workflow_id}?version=${run.workflow_version}`} size="xs">
                {version.data?.name ?? run.workflow_id.slice(0, 8)} v{run.workflow_version}
              </Anchor>
            </Text>
            <Text size="xs" c="dimmed">started {when(run.started_at)}</Text>
            <Text size="xs" c="dimmed">took {duration(run.started_at, run.finished_at)}</Text>
            {run.trace_id && (
              <Text size="xs" c="dimmed" data-testid="trace-id" title="the OpenTelemetry trace of this run">
                trace <Code>{run.trace_id}</Code>
              </Text>
            )}
            {run.parent && (
              <Text size="xs" c="dimmed" data-testid="parent-link">
                forked from{" "}
                <Anchor component={Link} to={`/executions/${(run.parent as { execution_id: string }).execution_id}`} size="xs">
                  {String((run.parent as { execution_id: string }).execution_id).slice(0, 8)}
                </Anchor>{" "}
                at {String((run.parent as { node?: string }).node ?? "")}
              </Text>
            )}
            {(run.children ?? []).length > 0 && (
              <Group gap={4} data-testid="children">
                <Text size="xs" c="dimmed">
                  forks:
                </Text>
                {(run.children ?? []).map((child) => (
                  <Anchor key={child} component={Link} to={`/executions/${child}`} size="xs" data-testid="child-link">
                    {child.slice(0, 8)}
                  </Anchor>
                ))}
              </Group>
            )}
          </Group>
        </Stack>
        <Group gap={6}>
          <CompareRuns key={run.id} executionId={run.id} suggested={(run.parent as { execution_id?: string } | null | undefined)?.execution_id} />
          {canOperate && run.status === "failed" && (
            <Button size="xs" variant="light" leftSection={<IconRefresh size={14} />} onClick={() => act(() => retry(run.id), "Retry started")} data-testid="retry-button">
              Retry
            </Button>
          )}
          {canOperate && live && (
            <Button
              size="xs"
              color="red"
              variant="light"
              leftSection={<IconPlayerStop size={14} />}
              data-testid="cancel-button"
              onClick={() =>
                modals.openConfirmModal({
                  title: "Cancel this run?",
                  labels: { confirm: "Cancel the run", cancel: "Keep it running" },
                  confirmProps: { color: "red" },
                  onConfirm: () => act(() => cancel(run.id), "Cancelled"),
                })
              }
            >
              Cancel
            </Button>
          )}
        </Group>
      </Group>
      {canOperate && <DebugControls run={run} act={act} />}
      {run.error && (
        <Alert color="red" radius={0} py={6}>
          <Text size="sm">
            {run.failed_node ? <b>{run.failed_node}: </b> : null}
            {run.error}
          </Text>
        </Alert>
      )}
      <div style={{ padding: "8px 16px", borderBottom: "1px solid var(--mantine-color-gray-3)" }}>
        <TimeTravel executionId={id} events={items} at={at} onAtChange={setAt} latest={run} onShown={setShown} />
      </div>
      <div style={{ display: "flex", flex: 1, minHeight: 0 }}>
        <div style={{ flex: 1, position: "relative" }} data-testid="run-graph">
          {definition && catalog.data ? (
            <RunGraph
              definition={definition}
              catalog={catalog.data}
              execution={view}
              pinned={pinned}
              selected={selected}
              onSelect={(next) => {
                setSelected(next);
                if (next) setTab("node");
              }}
            />
          ) : (
            <Center h="100%">
              <Loader size="sm" />
            </Center>
          )}
        </div>
        <div style={{ width: 400, borderLeft: "1px solid var(--mantine-color-gray-3)", display: "flex", flexDirection: "column", minHeight: 0 }}>
          <Tabs value={tab} onChange={setTab} style={{ display: "flex", flexDirection: "column", flex: 1, minHeight: 0 }}>
            <Tabs.List>
              <Tabs.Tab value="log" data-testid="tab-log">
                Event log ({items.length})
              </Tabs.Tab>
              <Tabs.Tab value="node" data-testid="tab-node">
                {selected ? `Node ${selected}` : "Node"}
              </Tabs.Tab>
              <Tabs.Tab value="output">Output</Tabs.Tab>
            </Tabs.List>
            <ScrollArea style={{ flex: 1 }} type="auto">
              <Tabs.Panel value="log">
                <Table fz="xs" highlightOnHover data-testid="event-log" verticalSpacing={3}>
                  <Table.Tbody>
                    {items.map((event) => (
                      <Table.Tr
                        key={event.seq}
                        ref={event.seq === position ? logRow : undefined}
                        onClick={() => setAt(event.seq === items.length ? null : event.seq)}
                        style={{ cursor: "pointer", opacity: event.seq > position ? 0.4 : 1 }}
                        bg={event.seq === position ? "blue.0" : undefined}
                        data-testid={`event-${event.seq}`}
                      >
                        <Table.Td c="dimmed" w={32}>
                          {event.seq}
                        </Table.Td>
                        <Table.Td fw={500}>{event.type}</Table.Td>
                        <Table.Td>{eventNode(event)}</Table.Td>
                        <Table.Td c="dimmed">{when(event.at).slice(11)}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Tabs.Panel>
              <Tabs.Panel value="node" p="sm">
                {!selected ? (
                  <Text size="sm" c="dimmed">
                    Click a node on the graph.
                  </Text>
                ) : (
                  <Stack gap="sm">
                    {canOperate && (
                      <Button size="xs" variant="light" leftSection={<IconRepeat size={14} />} onClick={() => setReplaying(selected)} w="fit-content" data-testid="replay-button">
                        Replay from here
                      </Button>
                    )}
                    {pinned.includes(selected) && <PinnedNotRun node={selected} />}
                    <NodeRun state={node} />
                  </Stack>
                )}
              </Tabs.Panel>
              <Tabs.Panel value="output" p="sm">
                <Stack gap="xs">
                  <Text size="sm" fw={600}>
                    Output of the last node(s)
                  </Text>
                  <JsonView value={view.output} maxHeight={500} testId="execution-output" />
                </Stack>
              </Tabs.Panel>
            </ScrollArea>
          </Tabs>
        </div>
      </div>
      {replaying && (
        <ReplayModal
          node={replaying}
          input={view.nodes[replaying]?.input ?? run.nodes[replaying]?.input}
          onClose={() => setReplaying(null)}
          onReplay={async (from, workflowVersion, input) => {
            const child = await replay(run.id, from, workflowVersion, input);
            setReplaying(null);
            notifications.show({ color: "green", message: `Replay started from ${from}` });
            navigate(`/executions/${child}`);
          }}
        />
      )}
    </div>
  );
}
