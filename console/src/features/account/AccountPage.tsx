/** The signed-in user's own account: where it is signed in (sessions, each revocable), every sign-in so far,
 * and whether the email address is confirmed. */
import { Badge, Button, Group, Stack, Table, Tabs, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Page } from "@/components/page";
import { ago, when } from "@/components/time";
import { client, unwrap, type Schemas } from "@/lib/api-client";
import { useMe } from "@/lib/auth";

type Session = Schemas["SessionView"];

function SessionRows({ items, current, revocable }: { items: Session[]; current: string | null | undefined; revocable: boolean }) {
  const queryClient = useQueryClient();
  if (items.length === 0) return <Text c="dimmed">Nothing here.</Text>;
  return (
    <Table striped data-testid={revocable ? "sessions" : "logins"}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Signed in</Table.Th>
          <Table.Th>Method</Table.Th>
          <Table.Th>Address</Table.Th>
          <Table.Th>Browser or client</Table.Th>
          <Table.Th>{revocable ? "Expires" : "Ended"}</Table.Th>
          <Table.Th />
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {items.map((s) => (
          <Table.Tr key={s.id} data-testid={`session-${s.id}`}>
            <Table.Td title={when(s.created_at)}>{ago(s.created_at)}</Table.Td>
            <Table.Td>{s.method}</Table.Td>
            <Table.Td>{s.client_address ?? "—"}</Table.Td>
            <Table.Td style={{ maxWidth: 320, overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}>{s.user_agent ?? "—"}</Table.Td>
            <Table.Td>{revocable ? ago(s.expires_at) : s.ended_at ? `${ago(s.ended_at)} (${s.end_reason})` : s.active ? "active" : "expired"}</Table.Td>
            <Table.Td>
              {s.id === current ? (
                <Badge variant="light">this session</Badge>
              ) : (
                revocable && (
                  <Button
                    size="xs"
                    variant="light"
                    color="red"
                    data-testid={`revoke-${s.id}`}
                    onClick={async () => {
                      await unwrap(client.DELETE("/api/v1/auth/sessions/{session_id}", { params: { path: { session_id: s.id } } }));
                      notifications.show({ message: "Session ended" });
                      await queryClient.invalidateQueries({ queryKey: ["account"] });
                    }}
                  >
                    Sign out
                  </Button>
                )
              )}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function AccountPage() {
  const me = useMe();
  const sessions = useQuery({ queryKey: ["account", "sessions"], queryFn: () => unwrap(client.GET("/api/v1/auth/sessions")) });
  const logins = useQuery({ queryKey: ["account", "logins"], queryFn: () => unwrap(client.GET("/api/v1/auth/logins")) });
  return (
    <Page title="Your account" description={me.email}>
      <Group>
        <Button
          variant="light"
          data-testid="verify-email"
          onClick={async () => {
            await unwrap(client.POST("/api/v1/auth/email-verification"));
            notifications.show({ message: `A confirmation link is on its way to ${me.email}` });
          }}
        >
          Confirm my email address
        </Button>
      </Group>
      <Tabs defaultValue="sessions">
        <Tabs.List>
          <Tabs.Tab value="sessions">Active sessions</Tabs.Tab>
          <Tabs.Tab value="logins">Login history</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="sessions" pt="md">
          <Stack>
            <Title order={5}>Where you are signed in</Title>
            <SessionRows items={sessions.data?.items ?? []} current={me.session_id} revocable />
          </Stack>
        </Tabs.Panel>
        <Tabs.Panel value="logins" pt="md">
          <SessionRows items={logins.data?.items ?? []} current={me.session_id} revocable={false} />
        </Tabs.Panel>
      </Tabs>
    </Page>
  );
}
