import { Alert, Button, Group, Select, Table, Text } from "@mantine/core";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { Page } from "@/components/page";
import { StatusBadge } from "@/components/status";
import { ago, duration } from "@/components/time";
import { client, unwrap } from "@/lib/api-client";
import type { ExecutionSummary } from "@/lib/definition";
import { useCan } from "@/lib/auth";
import { listExecutions, type ExecutionFilters } from "@/lib/queries";
import { BulkReplay } from "./components/BulkReplay";

const STATUSES = ["queued", "running", "waiting", "paused", "succeeded", "failed", "cancelled"];

/** All runs, newest first, filtered by workflow and status, refreshed every two seconds; with a workflow chosen,
 * an operator may replay its runs in bulk. */
export function ExecutionsPage() {
  const [search, setSearch] = useSearchParams();
  const canOperate = useCan("operator");
  const filters: ExecutionFilters = {
    workflow_id: search.get("workflow_id") ?? undefined,
    status: (search.get("status") as ExecutionSummary["status"]) ?? undefined,
    limit: 50,
  };
  const workflows = useQuery({
    queryKey: ["workflows", "names"],
    queryFn: () => unwrap(client.GET("/api/v1/workflows", { params: { query: { limit: 500 } } })),
  });
  const names = Object.fromEntries((workflows.data?.items ?? []).map((w) => [w.id, w.name]));
  const runs = useInfiniteQuery({
    queryKey: ["executions", "list", "pages", filters],
    queryFn: ({ pageParam }) => listExecutions(filters, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: 2000,
  });
  const setFilter = (key: string, value: string | null) => {
    const next = new URLSearchParams(search);
    if (value) next.set(key, value);
    else next.delete(key);
    setSearch(next, { replace: true });
  };
  const rows = runs.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <Page title="Executions" description="Every run, live. Open one to inspect it event by event.">
      <Group>
        <Select
          placeholder="All workflows"
          clearable
          searchable
          data={(workflows.data?.items ?? []).map((w) => ({ value: w.id, label: w.name }))}
          value={filters.workflow_id ?? null}
          onChange={(value) => setFilter("workflow_id", value)}
          w={260}
          data-testid="filter-workflow"
        />
        <Select
          placeholder="Any status"
          clearable
          data={STATUSES}
          value={filters.status ?? null}
          onChange={(value) => setFilter("status", value)}
          w={180}
          data-testid="filter-status"
        />
        {canOperate && filters.workflow_id && <BulkReplay workflowId={filters.workflow_id} workflowName={names[filters.workflow_id] ?? filters.workflow_id} />}
      </Group>
      {runs.error && <Alert color="red">{runs.error.message}</Alert>}
      <Table highlightOnHover verticalSpacing="xs" data-testid="executions-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Execution</Table.Th>
            <Table.Th>Workflow</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Started</Table.Th>
            <Table.Th>Duration</Table.Th>
            <Table.Th>Forked from</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((run) => (
            <Table.Tr key={run.id} data-testid="execution-row">
              <Table.Td>
                <Link to={`/executions/${run.id}`} style={{ fontFamily: "var(--mantine-font-family-monospace)" }}>
                  {run.id.slice(0, 8)}
                </Link>
              </Table.Td>
              <Table.Td>
                <Link to={`/workflows/${run.workflow_id}`}>{names[run.workflow_id] ?? run.workflow_id.slice(0, 8)}</Link>{" "}
                <Text span size="xs" c="dimmed">
                  v{run.workflow_version}
                </Text>
              </Table.Td>
              <Table.Td>
                <StatusBadge status={run.status} />
              </Table.Td>
              <Table.Td>{ago(run.started_at)}</Table.Td>
              <Table.Td>{duration(run.started_at, run.finished_at)}</Table.Td>
              <Table.Td>
                {run.parent ? (
                  <Link to={`/executions/${(run.parent as { execution_id: string }).execution_id}`}>
                    {String((run.parent as { execution_id: string }).execution_id).slice(0, 8)}
                  </Link>
                ) : (
                  <Text size="sm" c="dimmed">—</Text>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {runs.isSuccess && rows.length === 0 && <Text c="dimmed">No executions match.</Text>}
      {runs.hasNextPage && (
        <Button variant="default" onClick={() => runs.fetchNextPage()} loading={runs.isFetchingNextPage} w="fit-content">
          Load more
        </Button>
      )}
    </Page>
  );
}
