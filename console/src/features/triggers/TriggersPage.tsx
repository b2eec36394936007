/** What active workflows have registered: webhook paths, schedules and event triggers, with fire times. */
import { Alert, Badge, Code, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { Page } from "@/components/page";
import { ago, when } from "@/components/time";
import { client, unwrap } from "@/lib/api-client";

export function TriggersPage() {
  const triggers = useQuery({ queryKey: ["triggers"], queryFn: () => unwrap(client.GET("/api/v1/triggers")), refetchInterval: 5000 });
  const workflows = useQuery({ queryKey: ["workflows", "names"], queryFn: () => unwrap(client.GET("/api/v1/workflows", { params: { query: { limit: 500 } } })) });
  const names = Object.fromEntries((workflows.data?.items ?? []).map((w) => [w.id, w.name]));
  return (
    <Page title="Triggers" description="Registered by active workflows: activate a workflow with a webhook, schedule or event trigger to see it here.">
      {triggers.error && <Alert color="red">{triggers.error.message}</Alert>}
      <Table verticalSpacing="xs" data-testid="triggers-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Workflow</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th>What</Table.Th>
            <Table.Th>Last fired</Table.Th>
            <Table.Th>Next fire</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(triggers.data?.items ?? []).map((trigger) => (
            <Table.Tr key={`${trigger.workflow_id}:${trigger.node}`} data-testid="trigger-row">
              <Table.Td>
                <Link to={`/workflows/${trigger.workflow_id}`}>{names[trigger.workflow_id] ?? trigger.workflow_id.slice(0, 8)}</Link>{" "}
                <Text span size="xs" c="dimmed">v{trigger.version} · {trigger.node}</Text>
              </Table.Td>
              <Table.Td><Badge variant="light">{trigger.kind}</Badge></Table.Td>
              <Table.Td>
                {trigger.path != null && <Code>{trigger.method ?? "POST"} /hooks/{trigger.path}</Code>}
                {trigger.cron != null && <Code>cron {trigger.cron}{trigger.timezone ? ` (${trigger.timezone})` : ""}</Code>}
                {trigger.interval != null && <Code>every {trigger.interval} s</Code>}
                {trigger.routing_key != null && <Code>{trigger.exchange} {trigger.routing_key}</Code>}
                {trigger.statuses != null && <Code>executions {trigger.statuses.join("/")}</Code>}
              </Table.Td>
              <Table.Td title={when(trigger.last_fired_at)}>{trigger.last_fired_at ? ago(trigger.last_fired_at) : "never"}</Table.Td>
              <Table.Td title={when(trigger.next_fire_at)}>{trigger.next_fire_at ? when(trigger.next_fire_at) : "—"}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {triggers.isSuccess && triggers.data.items.length === 0 && <Text c="dimmed">No active triggers.</Text>}
    </Page>
  );
}
