/** Credentials: create, edit (the data is replaced, never shown back), delete. */
import { ActionIcon, Alert, Badge, Button, Group, Modal, Select, Stack, Table, Text, TextInput } from "@mantine/core";
import { modals } from "@mantine/modals";
import { notifications } from "@mantine/notifications";
import { withTheme } from "@rjsf/core";
import { Theme } from "@rjsf/mantine";
import type { RJSFSchema } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import { IconEdit, IconPlus, IconTrash } from "@tabler/icons-react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { JsonEditor } from "@/components/data";
import { Page } from "@/components/page";
import { ago } from "@/components/time";
import { client, unwrap, type Schemas } from "@/lib/api-client";
import { useCan } from "@/lib/auth";

const DataForm = withTheme(Theme);
type Credential = Schemas["CredentialView"];

function CredentialModal(props: { editing: Credential | "new" | null; onClose: () => void; types: Schemas["CredentialTypeInfo"][] }) {
  const queryClient = useQueryClient();
  const existing = props.editing !== "new" ? props.editing : null;
  const [name, setName] = useState(existing?.name ?? "");
  const [type, setType] = useState<string>(existing?.type ?? props.types[0]?.type ?? "http_bearer");
  const [data, setData] = useState<Record<string, unknown>>({});
  const [rawData, setRawData] = useState("{}");
  const [error, setError] = useState<string | null>(null);
  const schema = props.types.find((t) => t.type === type)?.data_schema as RJSFSchema | undefined;
  const freeForm = !schema || Object.keys(schema.properties ?? {}).length === 0;
  const save = async () => {
    try {
      const body = freeForm ? (JSON.parse(rawData) as Record<string, unknown>) : data;
      if (existing) {
        await unwrap(client.PUT("/api/v1/credentials/{credential_id}", { params: { path: { credential_id: existing.id } }, body: { name: name || undefined, data: body } }));
      } else {
        await unwrap(client.POST("/api/v1/credentials", { body: { name, type: type as Credential["type"], data: body } }));
      }
      await queryClient.invalidateQueries({ queryKey: ["credentials"] });
      notifications.show({ color: "green", message: `Credential "${name}" saved` });
      props.onClose();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Modal opened={props.editing !== null} onClose={props.onClose} title={existing ? `Edit "${existing.name}"` : "New credential"} size="lg">
      <Stack>
        <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} required data-testid="credential-name" />
        <Select
          label="Type"
          value={type}
          disabled={!!existing}
          allowDeselect={false}
          data={props.types.map((t) => ({ value: t.type, label: `${t.type} — ${t.description}` }))}
          onChange={(value) => value && setType(value)}
        />
        {existing && <Alert color="blue" p="xs">The stored secret is never shown. Saving replaces it with what you enter here.</Alert>}
        {freeForm ? (
          <JsonEditor label="Data (every field is secret)" value={rawData} onChange={setRawData} />
        ) : (
          <DataForm
            key={type}
            schema={{ ...schema, title: undefined, description: undefined }}
            formData={data}
            validator={validator}
            onChange={(event) => setData(event.formData as Record<string, unknown>)}
            uiSchema={{ "ui:submitButtonOptions": { norender: true } }}
            showErrorList={false}
          />
        )}
        {error && <Alert color="red">{error}</Alert>}
        <Button onClick={save} data-testid="credential-save">
          Save
        </Button>
      </Stack>
    </Modal>
  );
}

export function CredentialsPage() {
  const canEdit = useCan("editor");
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ["credentials"], queryFn: () => unwrap(client.GET("/api/v1/credentials", { params: { query: { limit: 500 } } })) });
  const types = useQuery({ queryKey: ["credential-types"], queryFn: () => unwrap(client.GET("/api/v1/credentials/types")), staleTime: Infinity });
  const [editing, setEditing] = useState<Credential | "new" | null>(null);
  const remove = (credential: Credential) =>
    modals.openConfirmModal({
      title: `Delete "${credential.name}"?`,
      children: <Text size="sm">Workflows that use it fail at their next run, naming the missing credential.</Text>,
      labels: { confirm: "Delete", cancel: "Cancel" },
      confirmProps: { color: "red" },
      onConfirm: async () => {
        await unwrap(client.DELETE("/api/v1/credentials/{credential_id}", { params: { path: { credential_id: credential.id } } }));
        await queryClient.invalidateQueries({ queryKey: ["credentials"] });
      },
    });
  return (
    <Page
      title="Credentials"
      description="Secrets that nodes use by name or id. They are encrypted at rest and never shown back."
      actions={canEdit && <Button leftSection={<IconPlus size={16} />} onClick={() => setEditing("new")} data-testid="new-credential">New credential</Button>}
    >
      {list.error && <Alert color="red">{list.error.message}</Alert>}
      <Table verticalSpacing="xs" data-testid="credentials-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Type</Table.Th>
            <Table.Th>Id</Table.Th>
            <Table.Th>Updated</Table.Th>
            <Table.Th w={80} />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(list.data?.items ?? []).map((credential) => (
            <Table.Tr key={credential.id}>
              <Table.Td fw={500}>{credential.name}</Table.Td>
              <Table.Td><Badge variant="light">{credential.type}</Badge></Table.Td>
              <Table.Td><Text size="xs" ff="monospace">{credential.id}</Text></Table.Td>
              <Table.Td><Text size="sm" c="dimmed">{ago((credential as { updated_at?: string }).updated_at)}</Text></Table.Td>
              <Table.Td>
                {canEdit && (
                  <Group gap={4}>
                    <ActionIcon variant="subtle" aria-label="edit" onClick={() => setEditing(credential)}><IconEdit size={16} /></ActionIcon>
                    <ActionIcon variant="subtle" color="red" aria-label="delete" onClick={() => remove(credential)}><IconTrash size={16} /></ActionIcon>
                  </Group>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {list.isSuccess && list.data.items.length === 0 && <Text c="dimmed">No credentials yet.</Text>}
      {editing && types.data && <CredentialModal editing={editing} onClose={() => setEditing(null)} types={types.data} />}
    </Page>
  );
}
