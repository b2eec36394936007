import { ActionIcon, Alert, Button, FileButton, Group, Menu, Switch, Table, Text, TextInput } from "@mantine/core";
import { modals } from "@mantine/modals";
import { notifications } from "@mantine/notifications";
import { IconCopy, IconDots, IconDownload, IconPlus, IconSearch, IconTrash, IconUpload } from "@tabler/icons-react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { Page } from "@/components/page";
import { StatusBadge } from "@/components/status";
import { ago } from "@/components/time";
import { client, unwrap } from "@/lib/api-client";
import { useCan } from "@/lib/auth";
import { definitionOf } from "@/lib/definition";
import { executionKeys, listExecutions, workflowKeys } from "@/lib/queries";
import { useProjects } from "@/features/projects/ProjectSelect";
import { createWorkflow, deleteWorkflow, exportWorkflow, parseDefinition, setActive, useWorkflows } from "./api";

function LastRun({ workflowId }: { workflowId: string }) {
  const last = useQuery({
    queryKey: executionKeys.list({ workflow_id: workflowId, limit: 1 }),
    queryFn: () => listExecutions({ workflow_id: workflowId, limit: 1 }),
    refetchInterval: 5000,
  });
  const run = last.data?.items[0];
  if (!run) return <StatusBadge status={null} size="xs" />;
  return (
    <Group gap={6}>
      <Link to={`/executions/${run.id}`}>
        <StatusBadge status={run.status} size="xs" />
      </Link>
      <Text size="xs" c="dimmed">{ago(run.started_at)}</Text>
    </Group>
  );
}

async function fetchDefinition(id: string) {
  return definitionOf(await unwrap(client.GET("/api/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id } } })));
}

export function WorkflowsPage() {
  const workflows = useWorkflows();
  const projects = useProjects();
  const projectNames = new Map((projects.data?.items ?? []).map((p) => [p.id, p.name]));
  const manyProjects = projectNames.size > 1;
  const [search, setSearch] = useState("");
  const canEdit = useCan("editor");
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: workflowKeys.all });
  const failed = (error: unknown) => notifications.show({ color: "red", message: String((error as Error).message) });

  const duplicate = async (id: string) => {
    try {
      // the API's copy stays in the source's project and is named "<name> (copy)"
      const copy = await unwrap(client.POST("/api/v1/workflows/{workflow_id}/duplicate", { params: { path: { workflow_id: id } }, body: {} }));
      await refresh();
      notifications.show({ color: "green", message: `Created "${copy.name}"` });
    } catch (error) {
      failed(error);
    }
  };
  const remove = (id: string, name: string) =>
    modals.openConfirmModal({
      title: `Delete "${name}"?`,
      children: <Text size="sm">Its triggers stop; its executions are kept.</Text>,
      labels: { confirm: "Delete", cancel: "Cancel" },
      confirmProps: { color: "red", "data-testid": "confirm-delete" } as Record<string, string>,
      onConfirm: async () => {
        try {
          await deleteWorkflow(id);
          await refresh();
        } catch (error) {
          failed(error);
        }
      },
    });
  const importFile = async (file: File | null) => {
    if (!file) return;
    try {
      const created = await createWorkflow(parseDefinition(await file.text()));
      await refresh();
      notifications.show({ color: "green", message: `Imported "${created.name}"` });
      navigate(`/workflows/${created.id}`);
    } catch (error) {
      failed(error);
    }
  };

  const needle = search.trim().toLowerCase();
  const shown = (workflows.data ?? []).filter((workflow) => !needle || workflow.name.toLowerCase().includes(needle));
  return (
    <Page
      title="Workflows"
      description="Draw a workflow, run it, and see each node's data."
      actions={
        canEdit && (
          <>
            <FileButton onChange={importFile} accept="application/json,.json">
              {(props) => (
                <Button variant="default" leftSection={<IconUpload size={16} />} {...props} data-testid="import-button">
                  Import
                </Button>
              )}
            </FileButton>
            <Button leftSection={<IconPlus size={16} />} component={Link} to="/workflows/new" data-testid="new-workflow">
              New workflow
            </Button>
          </>
        )
      }
    >
      <TextInput
        placeholder="Search by name"
        leftSection={<IconSearch size={16} />}
        value={search}
        onChange={(event) => setSearch(event.currentTarget.value)}
        w={320}
        data-testid="workflow-search"
      />
      {workflows.error && <Alert color="red">{workflows.error.message}</Alert>}
      <Table highlightOnHover verticalSpacing="xs" data-testid="workflows-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            {manyProjects && <Table.Th>Project</Table.Th>}
            <Table.Th>Version</Table.Th>
            <Table.Th>Active</Table.Th>
            <Table.Th>Last run</Table.Th>
            <Table.Th>Updated</Table.Th>
            <Table.Th w={40} />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {shown.map((workflow) => (
            <Table.Tr key={workflow.id} data-testid={`workflow-row-${workflow.name}`}>
              <Table.Td>
                <Link to={`/workflows/${workflow.id}`} style={{ fontWeight: 500 }}>
                  {workflow.name}
                </Link>
              </Table.Td>
              {manyProjects && (
                <Table.Td>
                  <Text size="sm" c="dimmed" data-testid={`workflow-project-${workflow.name}`}>{projectNames.get(workflow.project_id) ?? workflow.project_id}</Text>
                </Table.Td>
              )}
              <Table.Td>v{workflow.version}</Table.Td>
              <Table.Td>
                <Switch
                  size="xs"
                  checked={workflow.active}
                  disabled={!canEdit}
                  aria-label="active"
                  onChange={async (event) => {
                    try {
                      await setActive(workflow.id, event.currentTarget.checked);
                      await refresh();
                    } catch (error) {
                      failed(error);
                    }
                  }}
                />
              </Table.Td>
              <Table.Td>
                <LastRun workflowId={workflow.id} />
              </Table.Td>
              <Table.Td>
                <Text size="sm" c="dimmed">{ago(workflow.updated_at)}</Text>
              </Table.Td>
              <Table.Td>
                <Menu position="bottom-end" withinPortal>
                  <Menu.Target>
                    <ActionIcon variant="subtle" aria-label="actions" data-testid={`workflow-menu-${workflow.name}`}>
                      <IconDots size={16} />
                    </ActionIcon>
                  </Menu.Target>
                  <Menu.Dropdown>
                    <Menu.Item leftSection={<IconDownload size={14} />} onClick={async () => exportWorkflow(await fetchDefinition(workflow.id))}>
                      Export JSON
                    </Menu.Item>
                    {canEdit && (
                      <>
                        <Menu.Item leftSection={<IconCopy size={14} />} onClick={() => duplicate(workflow.id)} data-testid="duplicate">
                          Duplicate
                        </Menu.Item>
                        <Menu.Item leftSection={<IconTrash size={14} />} color="red" onClick={() => remove(workflow.id, workflow.name)} data-testid="delete">
                          Delete
                        </Menu.Item>
                      </>
                    )}
                  </Menu.Dropdown>
                </Menu>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {workflows.isSuccess && shown.length === 0 && (
        <Text c="dimmed">{needle ? "No workflow matches." : "No workflows yet."}</Text>
      )}
    </Page>
  );
}
