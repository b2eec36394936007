/** Messages the platform could not process, with the reason, and a button that re-drives them. */
import { Alert, Badge, Button, Checkbox, Code, Group, Table, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Page } from "@/components/page";
import { when } from "@/components/time";
import { client, unwrap } from "@/lib/api-client";

type DeadLetter = { id: number; queue: string; reason: string; body: string; received_at: string; replayed_at: string | null };

export function DeadLettersPage() {
  const queryClient = useQueryClient();
  const [showReplayed, setShowReplayed] = useState(false);
  const letters = useQuery({
    queryKey: ["dead-letters", showReplayed],
    queryFn: async () => (await unwrap(client.GET("/api/v1/admin/dead-letters", { params: { query: { limit: 200, include_replayed: showReplayed } } }))) as { items: DeadLetter[] },
    refetchInterval: 10_000,
  });
  const redrive = async (ids: number[]) => {
    try {
      const result = (await unwrap(client.POST("/api/v1/admin/dead-letters/replay", { body: { ids } }))) as { replayed?: unknown[] | number };
      const count = Array.isArray(result.replayed) ? result.replayed.length : result.replayed;
      notifications.show({ color: "green", message: `Re-driven: ${count ?? "done"}` });
      await queryClient.invalidateQueries({ queryKey: ["dead-letters"] });
    } catch (e) {
      notifications.show({ color: "red", message: (e as Error).message });
    }
  };
  const items = letters.data?.items ?? [];
  return (
    <Page
      title="Dead letters"
      description="Messages that could not be processed, and why. Re-drive sends one back to where it came from."
      actions={
        <Group>
          <Checkbox label="show re-driven" checked={showReplayed} onChange={(e) => setShowReplayed(e.currentTarget.checked)} />
          <Button variant="light" disabled={items.every((l) => l.replayed_at)} onClick={() => redrive([])} data-testid="redrive-all">
            Re-drive all
          </Button>
        </Group>
      }
    >
      {letters.error && <Alert color="red">{letters.error.message}</Alert>}
      <Table verticalSpacing="xs" data-testid="dead-letters-table">
        <Table.Thead>
          <Table.Tr><Table.Th>#</Table.Th><Table.Th>Received</Table.Th><Table.Th>Queue</Table.Th><Table.Th>Reason</Table.Th><Table.Th>Message</Table.Th><Table.Th /></Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((letter) => (
            <Table.Tr key={letter.id}>
              <Table.Td>{letter.id}</Table.Td>
              <Table.Td><Text size="xs">{when(letter.received_at)}</Text></Table.Td>
              <Table.Td><Text size="xs" ff="monospace">{letter.queue}</Text></Table.Td>
              <Table.Td maw={320}><Text size="xs" c="red.7" fw={500} style={{ wordBreak: "break-word" }}>{letter.reason}</Text></Table.Td>
              <Table.Td maw={420}><Code style={{ display: "block", whiteSpace: "pre-wrap", wordBreak: "break-all", maxHeight: 80, overflow: "auto" }}>{letter.body.slice(0, 600)}</Code></Table.Td>
              <Table.Td>
                {letter.replayed_at ? <Badge color="gray">re-driven</Badge> : <Button size="xs" variant="light" onClick={() => redrive([letter.id])}>Re-drive</Button>}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {letters.isSuccess && items.length === 0 && <Text c="dimmed" data-testid="no-dead-letters">No dead letters: every message was processed.</Text>}
    </Page>
  );
}
