/** Variables: `vars.NAME` in expressions. Plain values are shown; a secret value goes in and never comes back. */
import { Alert, Button, Checkbox, Modal, Stack, Text, TextInput } from "@mantine/core";
import { modals } from "@mantine/modals";
import { notifications } from "@mantine/notifications";
import { IconPlus } from "@tabler/icons-react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Page } from "@/components/page";
import { client, unwrap } from "@/lib/api-client";
import { useCan, useMe } from "@/lib/auth";
import { ProjectSelect } from "@/features/projects/ProjectSelect";
import { VariablesTable, type Variable } from "./VariablesTable";

function VariableModal(props: { editing: Variable | "new"; project: string | null; onClose: () => void }) {
  const queryClient = useQueryClient();
  const existing = props.editing !== "new" ? props.editing : null;
  const [name, setName] = useState(existing?.name ?? "");
  const [value, setValue] = useState(existing?.secret ? "" : (existing?.value ?? ""));
  const [secret, setSecret] = useState(existing?.secret ?? false);
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    try {
      await unwrap(client.PUT("/api/v1/variables/{name}", { params: { path: { name }, query: { project_id: props.project } }, body: { value, secret } }));
      await queryClient.invalidateQueries({ queryKey: ["variables"] });
      notifications.show({ color: "green", message: `Variable ${name} saved` });
      props.onClose();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Modal opened onClose={props.onClose} title={existing ? `Edit vars.${existing.name}` : "New variable"}>
      <Stack>
        <TextInput label="Name" description="letters, digits and _; read as vars.NAME" value={name} disabled={!!existing} onChange={(e) => setName(e.currentTarget.value)} required data-testid="variable-name" />
        <TextInput label="Value" type={secret ? "password" : "text"} value={value} onChange={(e) => setValue(e.currentTarget.value)} data-testid="variable-value" />
        <Checkbox label="Secret: encrypted at rest, filled in only where nodes run, never shown again" checked={secret} onChange={(e) => setSecret(e.currentTarget.checked)} />
        {existing?.secret && <Alert color="blue" p="xs">The stored secret is never shown. Saving replaces it with what you enter here.</Alert>}
        {error && <Alert color="red">{error}</Alert>}
        <Button onClick={save} data-testid="variable-save">Save</Button>
      </Stack>
    </Modal>
  );
}

export function VariablesPage() {
  const me = useMe();
  const canEdit = useCan("editor");
  const queryClient = useQueryClient();
  const [project, setProject] = useState<string | null>(me.default_project ?? null);
  const list = useQuery({
    queryKey: ["variables", project],
    queryFn: () => unwrap(client.GET("/api/v1/variables", { params: { query: { project_id: project } } })),
  });
  const [editing, setEditing] = useState<Variable | "new" | null>(null);
  const remove = (variable: Variable) =>
    modals.openConfirmModal({
      title: `Delete vars.${variable.name}?`,
      children: <Text size="sm">Runs that used it keep the value they recorded; new runs that read it fail.</Text>,
      labels: { confirm: "Delete", cancel: "Cancel" },
      confirmProps: { color: "red" },
      onConfirm: async () => {
        await unwrap(client.DELETE("/api/v1/variables/{name}", { params: { path: { name: variable.name }, query: { project_id: project } } }));
        await queryClient.invalidateQueries({ queryKey: ["variables"] });
      },
    });
  return (
    <Page
      title="Variables"
      description="A project's variables, read by its workflows in expressions as vars.NAME (a workflow's own override them). A run records the values it used."
      actions={canEdit && <Button leftSection={<IconPlus size={16} />} onClick={() => setEditing("new")} data-testid="new-variable">New variable</Button>}
    >
      <ProjectSelect label="Project" value={project} onChange={setProject} role="viewer" testId="variables-project" />
      {list.error && <Alert color="red">{list.error.message}</Alert>}
      <VariablesTable variables={list.data?.items ?? []} canEdit={canEdit} onEdit={setEditing} onDelete={remove} />
      {list.isSuccess && list.data.items.length === 0 && <Text c="dimmed">No variables yet.</Text>}
      {editing && <VariableModal editing={editing} project={project} onClose={() => setEditing(null)} />}
    </Page>
  );
}
