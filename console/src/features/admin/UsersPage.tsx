/** Admins: people and their roles, and API keys for scripts (a new key is shown once). */
import { Alert, Badge, Button, Code, CopyButton, Group, Modal, PasswordInput, Select, Stack, Switch, Table, Tabs, Text, TextInput } from "@mantine/core";
import { modals } from "@mantine/modals";
import { notifications } from "@mantine/notifications";
import { IconKey, IconPlus } from "@tabler/icons-react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Page } from "@/components/page";
import { ago } from "@/components/time";
import { client, unwrap } from "@/lib/api-client";
import { useMe, type Role } from "@/lib/auth";

const ROLES: Role[] = ["viewer", "operator", "editor", "admin"];

function NewUser({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal opened={opened} onClose={onClose} title="Invite a user">
      <Stack>
        <TextInput label="Email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} data-testid="user-email" />
        <PasswordInput label="Initial password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} data-testid="user-password" />
        <Select label="Role" data={ROLES} value={role} onChange={(v) => v && setRole(v as Role)} allowDeselect={false} data-testid="user-role" />
        {error && <Alert color="red">{error}</Alert>}
        <Button
          data-testid="user-create"
          onClick={async () => {
            try {
              await unwrap(client.POST("/api/v1/users", { body: { email, password, role } }));
              await queryClient.invalidateQueries({ queryKey: ["users"] });
              onClose();
            } catch (e) {
              setError((e as Error).message);
            }
          }}
        >
          Create
        </Button>
      </Stack>
    </Modal>
  );
}

/** An invitation by mail: the invitee follows the link and chooses their own password. */
function InviteByEmail({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal opened={opened} onClose={onClose} title="Invite by email">
      <Stack>
        <Text size="sm" c="dimmed">
          They get a link that works once, for a week, to choose their password.
        </Text>
        <TextInput label="Email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} data-testid="invitation-email" />
        <Select label="Role" data={ROLES} value={role} onChange={(v) => v && setRole(v as Role)} allowDeselect={false} data-testid="invitation-role" />
        {error && <Alert color="red">{error}</Alert>}
        <Button
          data-testid="invitation-send"
          onClick={async () => {
            try {
              await unwrap(client.POST("/api/v1/auth/invitations", { body: { email, role } }));
              notifications.show({ message: `Invitation sent to ${email}` });
              setEmail("");
              onClose();
            } catch (e) {
              setError((e as Error).message);
            }
          }}
        >
          Send the invitation
        </Button>
      </Stack>
    </Modal>
  );
}

function NewKey({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role | null>(null);
  const [key, setKey] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const close = () => {
    setKey(null);
    setName("");
    onClose();
  };
  return (
    <Modal opened={opened} onClose={close} title="New API key">
      {key ? (
        <Stack>
          <Alert color="yellow" title="Copy the key now">It is shown this once; Flowtape keeps only its hash.</Alert>
          <Code block data-testid="new-api-key">{key}</Code>
          <CopyButton value={key}>{({ copied, copy }) => <Button onClick={copy} variant="light">{copied ? "Copied" : "Copy"}</Button>}</CopyButton>
          <Text size="xs" c="dimmed">Send it as Authorization: Bearer &lt;key&gt; or X-API-Key: &lt;key&gt;.</Text>
          <Button onClick={close}>Done</Button>
        </Stack>
      ) : (
        <Stack>
          <TextInput label="Name" description="what uses it, e.g. ci-deploy" value={name} onChange={(e) => setName(e.currentTarget.value)} data-testid="key-name" />
          <Select label="Role" placeholder="your own role" clearable data={ROLES} value={role} onChange={(v) => setRole(v as Role | null)} />
          {error && <Alert color="red">{error}</Alert>}
          <Button
            data-testid="key-create"
            onClick={async () => {
              try {
                const created = await unwrap(client.POST("/api/v1/api-keys", { body: { name, role: role ?? undefined } }));
                setKey(created.key);
                await queryClient.invalidateQueries({ queryKey: ["api-keys"] });
              } catch (e) {
                setError((e as Error).message);
              }
            }}
          >
            Create key
          </Button>
        </Stack>
      )}
    </Modal>
  );
}

export function UsersPage() {
  const me = useMe();
  const queryClient = useQueryClient();
  const users = useQuery({ queryKey: ["users"], queryFn: () => unwrap(client.GET("/api/v1/users", { params: { query: { limit: 500 } } })) });
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: () => unwrap(client.GET("/api/v1/api-keys", { params: { query: { limit: 500 } } })) });
  const [inviting, setInviting] = useState(false);
  const [invitingByEmail, setInvitingByEmail] = useState(false);
  const [creatingKey, setCreatingKey] = useState(false);
  const change = async (userId: string, body: { role?: Role; disabled?: boolean }) => {
    try {
      await unwrap(client.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: userId } }, body }));
      await queryClient.invalidateQueries({ queryKey: ["users"] });
    } catch (e) {
      notifications.show({ color: "red", message: (e as Error).message });
    }
  };
  const emails = Object.fromEntries((users.data?.items ?? []).map((u) => [u.id, u.email]));
  return (
    <Page title="Users & API keys" description="Roles: viewer reads; operator also runs, cancels, retries and replays; editor also writes workflows and credentials; admin also manages users.">
      <Tabs defaultValue="users">
        <Tabs.List>
          <Tabs.Tab value="users">Users</Tabs.Tab>
          <Tabs.Tab value="keys" data-testid="tab-keys">API keys</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="users" pt="md">
          <Group justify="flex-end" mb="sm">
            <Button leftSection={<IconPlus size={16} />} onClick={() => setInviting(true)} data-testid="invite-user">Invite user</Button>
            <Button variant="light" onClick={() => setInvitingByEmail(true)} data-testid="invite-by-email">Invite by email</Button>
          </Group>
          <Table verticalSpacing="xs" data-testid="users-table">
            <Table.Thead>
              <Table.Tr><Table.Th>Email</Table.Th><Table.Th>Role</Table.Th><Table.Th>Enabled</Table.Th><Table.Th>Created</Table.Th></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {(users.data?.items ?? []).map((user) => (
                <Table.Tr key={user.id}>
                  <Table.Td>{user.email} {user.id === me.id && <Badge size="xs" variant="light">you</Badge>}</Table.Td>
                  <Table.Td>
                    <Select size="xs" w={130} data={ROLES} value={user.role} allowDeselect={false} disabled={user.id === me.id} onChange={(v) => v && change(user.id, { role: v as Role })} />
                  </Table.Td>
                  <Table.Td>
                    <Switch size="xs" checked={!user.disabled} disabled={user.id === me.id} onChange={(e) => change(user.id, { disabled: !e.currentTarget.checked })} />
                  </Table.Td>
                  <Table.Td><Text size="sm" c="dimmed">{ago(user.created_at)}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Tabs.Panel>
        <Tabs.Panel value="keys" pt="md">
          <Group justify="flex-end" mb="sm">
            <Button leftSection={<IconKey size={16} />} onClick={() => setCreatingKey(true)} data-testid="new-key">New API key</Button>
          </Group>
          <Table verticalSpacing="xs" data-testid="keys-table">
            <Table.Thead>
              <Table.Tr><Table.Th>Name</Table.Th><Table.Th>Id</Table.Th><Table.Th>Role</Table.Th><Table.Th>Owner</Table.Th><Table.Th>Last used</Table.Th><Table.Th /></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {(keys.data?.items ?? []).map((key) => (
                <Table.Tr key={key.id} style={{ opacity: key.revoked_at ? 0.5 : 1 }}>
                  <Table.Td fw={500}>{key.name}</Table.Td>
                  <Table.Td><Text size="xs" ff="monospace">ftk_{key.id}_…</Text></Table.Td>
                  <Table.Td><Badge variant="light">{key.role}</Badge></Table.Td>
                  <Table.Td>{emails[key.owner_id] ?? key.owner_id.slice(0, 8)}</Table.Td>
                  <Table.Td>{key.last_used_at ? ago(key.last_used_at) : "never"}</Table.Td>
                  <Table.Td>
                    {key.revoked_at ? (
                      <Badge color="gray">revoked</Badge>
                    ) : (
                      <Button
                        size="xs"
                        color="red"
                        variant="subtle"
                        onClick={() =>
                          modals.openConfirmModal({
                            title: `Revoke "${key.name}"?`,
                            labels: { confirm: "Revoke", cancel: "Cancel" },
                            confirmProps: { color: "red" },
                            onConfirm: async () => {
                              await unwrap(client.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: key.id } } }));
                              await queryClient.invalidateQueries({ queryKey: ["api-keys"] });
                            },
                          })
                        }
                      >
                        Revoke
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {keys.isSuccess && keys.data.items.length === 0 && <Text c="dimmed">No API keys yet.</Text>}
        </Tabs.Panel>
      </Tabs>
      <NewUser opened={inviting} onClose={() => setInviting(false)} />
      <InviteByEmail opened={invitingByEmail} onClose={() => setInvitingByEmail(false)} />
      <NewKey opened={creatingKey} onClose={() => setCreatingKey(false)} />
    </Page>
  );
}
