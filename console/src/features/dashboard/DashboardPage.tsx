/** Home: the last 24 hours of runs by status, the failure rate, and the latest failures. */
import { Alert, Card, Group, Progress, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { Page } from "@/components/page";
import { STATUS_COLORS, StatusBadge } from "@/components/status";
import { ago } from "@/components/time";
import { client, unwrap } from "@/lib/api-client";
import type { ExecutionSummary } from "@/lib/definition";
import { listExecutions } from "@/lib/queries";

const DAY_MS = 24 * 3600 * 1000;
const STATUSES = ["succeeded", "failed", "running", "waiting", "cancelled"] as const;

/** The runs started in the last 24 hours (the list is newest first: page until older ones appear). */
async function lastDay(): Promise<{ runs: ExecutionSummary[]; truncated: boolean }> {
  const since = Date.now() - DAY_MS;
  const runs: ExecutionSummary[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const result = await listExecutions({ limit: 500 }, cursor);
    const recent = result.items.filter((run) => run.started_at && Date.parse(run.started_at) >= since);
    runs.push(...recent);
    if (!result.next_cursor || recent.length < result.items.length) return { runs, truncated: false };
    cursor = result.next_cursor;
  }
  return { runs, truncated: true };
}

export function DashboardPage() {
  const day = useQuery({ queryKey: ["executions", "last-day"], queryFn: lastDay, refetchInterval: 10_000 });
  const failures = useQuery({ queryKey: ["executions", "list", { status: "failed", limit: 8 }], queryFn: () => listExecutions({ status: "failed", limit: 8 }), refetchInterval: 10_000 });
  const workflows = useQuery({ queryKey: ["workflows", "names"], queryFn: () => unwrap(client.GET("/api/v1/workflows", { params: { query: { limit: 500 } } })) });
  const names = Object.fromEntries((workflows.data?.items ?? []).map((w) => [w.id, w.name]));
  const runs = day.data?.runs ?? [];
  const counts = Object.fromEntries(STATUSES.map((status) => [status, runs.filter((run) => run.status === status).length]));
  const finished = counts.succeeded + counts.failed + counts.cancelled;
  const failureRate = finished ? counts.failed / finished : 0;
  return (
    <Page title="Dashboard" description="The last 24 hours.">
      {day.error && <Alert color="red">{day.error.message}</Alert>}
      <SimpleGrid cols={{ base: 2, md: 4 }}>
        <Card withBorder data-testid="runs-24h">
          <Text size="xs" c="dimmed" tt="uppercase" fw={700}>Runs (24 h)</Text>
          <Title order={2}>{runs.length}{day.data?.truncated ? "+" : ""}</Title>
        </Card>
        <Card withBorder data-testid="failure-rate">
          <Text size="xs" c="dimmed" tt="uppercase" fw={700}>Failure rate</Text>
          <Title order={2} c={failureRate > 0.1 ? "red" : undefined}>{(failureRate * 100).toFixed(1)}%</Title>
          <Text size="xs" c="dimmed">{counts.failed} of {finished} finished runs</Text>
        </Card>
        <Card withBorder>
          <Text size="xs" c="dimmed" tt="uppercase" fw={700}>Succeeded</Text>
          <Title order={2} c="green">{counts.succeeded}</Title>
        </Card>
        <Card withBorder>
          <Text size="xs" c="dimmed" tt="uppercase" fw={700}>Running or waiting</Text>
          <Title order={2} c="blue">{counts.running + counts.waiting}</Title>
        </Card>
      </SimpleGrid>
      <Card withBorder>
        <Stack gap="xs">
          <Text fw={600}>Runs by status</Text>
          <Progress.Root size={22}>
            {STATUSES.filter((status) => counts[status] > 0).map((status) => (
              <Progress.Section key={status} value={(counts[status] / Math.max(runs.length, 1)) * 100} color={STATUS_COLORS[status]}>
                <Progress.Label>{status}</Progress.Label>
              </Progress.Section>
            ))}
          </Progress.Root>
          <Group gap="lg" data-testid="status-counts">
            {STATUSES.map((status) => (
              <Group key={status} gap={6}>
                <StatusBadge status={status} size="xs" />
                <Text size="sm" fw={600} data-testid={`count-${status}`}>{counts[status]}</Text>
              </Group>
            ))}
          </Group>
        </Stack>
      </Card>
      <Card withBorder>
        <Text fw={600} mb="xs">Latest failures</Text>
        {failures.data && failures.data.items.length === 0 ? (
          <Text size="sm" c="dimmed">No failed runs.</Text>
        ) : (
          <Table verticalSpacing={4} data-testid="latest-failures">
            <Table.Tbody>
              {(failures.data?.items ?? []).map((run) => (
                <Table.Tr key={run.id}>
                  <Table.Td><Link to={`/executions/${run.id}`} style={{ fontFamily: "var(--mantine-font-family-monospace)" }}>{run.id.slice(0, 8)}</Link></Table.Td>
                  <Table.Td><Link to={`/workflows/${run.workflow_id}`}>{names[run.workflow_id] ?? run.workflow_id.slice(0, 8)}</Link></Table.Td>
                  <Table.Td><StatusBadge status={run.status} size="xs" /></Table.Td>
                  <Table.Td><Text size="sm" c="dimmed">{ago(run.started_at)}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
    </Page>
  );
}
