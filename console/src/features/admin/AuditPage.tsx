/** Admins: the append-only audit trail, newest first, filtered by action. */
import { Alert, Button, Code, Table, Text, TextInput } from "@mantine/core";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Page } from "@/components/page";
import { when } from "@/components/time";
import { client, unwrap } from "@/lib/api-client";

export function AuditPage() {
  const [action, setAction] = useState("");
  const audit = useInfiniteQuery({
    queryKey: ["audit", action],
    queryFn: ({ pageParam }) => unwrap(client.GET("/api/v1/audit", { params: { query: { limit: 100, cursor: pageParam, action: action || undefined } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = audit.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <Page title="Audit trail" description="Sign-ins, user, key, credential and workflow changes.">
      <TextInput placeholder="Filter by action, e.g. login.failed" value={action} onChange={(e) => setAction(e.currentTarget.value.trim())} w={320} />
      {audit.error && <Alert color="red">{audit.error.message}</Alert>}
      <Table verticalSpacing={4} fz="sm" data-testid="audit-table">
        <Table.Thead>
          <Table.Tr><Table.Th>When</Table.Th><Table.Th>Who</Table.Th><Table.Th>Action</Table.Th><Table.Th>Target</Table.Th><Table.Th>Details</Table.Th></Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((entry) => (
            <Table.Tr key={entry.id}>
              <Table.Td><Text size="xs" style={{ whiteSpace: "nowrap" }}>{when(entry.at)}</Text></Table.Td>
              <Table.Td><Text size="xs">{entry.actor.email ?? entry.actor.kind}{entry.actor.key_id ? ` (key ${entry.actor.key_id})` : ""}</Text></Table.Td>
              <Table.Td><Text size="xs" ff="monospace" fw={600} c={entry.outcome === "ok" ? undefined : "red"} style={{ whiteSpace: "nowrap" }}>{entry.action}</Text></Table.Td>
              <Table.Td><Text size="xs">{entry.target_type} {entry.target_id?.slice(0, 12)}</Text></Table.Td>
              <Table.Td>{entry.details && Object.keys(entry.details).length > 0 ? <Code>{JSON.stringify(entry.details)}</Code> : null}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {audit.isSuccess && rows.length === 0 && <Text c="dimmed">Nothing recorded{action ? " for this action" : ""}.</Text>}
      {audit.hasNextPage && <Button variant="default" w="fit-content" onClick={() => audit.fetchNextPage()}>Load more</Button>}
    </Page>
  );
}
