/** Projects: what each team owns. Everyone sees their own projects and who is in them; platform admins make
 * projects and set their quotas, a project's admins add and remove its members and see its usage. Another
 * project's things never show anywhere. */
import { Alert, Badge, Button, Card, Group, Modal, Select, SimpleGrid, Stack, Text, TextInput, Title } from "@mantine/core";
import { modals } from "@mantine/modals";
import { notifications } from "@mantine/notifications";
import { IconPlus, IconUserPlus } from "@tabler/icons-react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Page } from "@/components/page";
import { client, unwrap, type Schemas } from "@/lib/api-client";
import { useCan, type Role } from "@/lib/auth";
import { MembersTable, type Member } from "./MembersTable";
import { QuotaUsage } from "./QuotaUsage";

type Project = Schemas["ProjectView"];
const ROLES: Role[] = ["viewer", "operator", "editor", "admin"];

function NewProjectModal(props: { onClose: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const create = async () => {
    try {
      const made = await unwrap(client.POST("/api/v1/projects", { body: { name } }));
      await queryClient.invalidateQueries({ queryKey: ["projects"] });
      await queryClient.invalidateQueries({ queryKey: ["me"] });
      notifications.show({ color: "green", message: `Project ${made.name} created: you are its admin` });
      props.onClose();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Modal opened onClose={props.onClose} title="New project">
      <Stack>
        <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} required data-testid="project-name" />
        {error && <Alert color="red">{error}</Alert>}
        <Button onClick={create} disabled={!name.trim()} data-testid="project-create">Create</Button>
      </Stack>
    </Modal>
  );
}

function AddMember(props: { project: Project }) {
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [error, setError] = useState<string | null>(null);
  const add = async () => {
    try {
      await unwrap(client.POST("/api/v1/projects/{project_id}/members", { params: { path: { project_id: props.project.id } }, body: { email, role } }));
      await queryClient.invalidateQueries({ queryKey: ["project-members", props.project.id] });
      setEmail("");
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Stack gap="xs">
      <Group align="flex-end" gap="xs">
        <TextInput label="Add someone with an account" placeholder="email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} data-testid="member-email" style={{ flex: 1 }} />
        <Select label="Role" data={ROLES} value={role} onChange={(value) => setRole((value as Role) ?? "viewer")} w={130} allowDeselect={false} data-testid="member-role" />
        <Button leftSection={<IconUserPlus size={16} />} onClick={add} disabled={!email.trim()} data-testid="member-add">Add</Button>
      </Group>
      {error && <Alert color="red" p="xs">{error}</Alert>}
    </Stack>
  );
}

function ProjectCard(props: { project: Project; platformAdmin: boolean }) {
  const queryClient = useQueryClient();
  const { project } = props;
  const canManage = props.platformAdmin || project.role === "admin";
  const members = useQuery({
    queryKey: ["project-members", project.id],
    queryFn: () => unwrap(client.GET("/api/v1/projects/{project_id}/members", { params: { path: { project_id: project.id } } })),
  });
  const remove = (member: Member) =>
    modals.openConfirmModal({
      title: `Take ${member.email} out of ${project.name}?`,
      children: <Text size="sm">Their sessions and API keys lose this project within seconds.</Text>,
      labels: { confirm: "Remove", cancel: "Cancel" },
      confirmProps: { color: "red" },
      onConfirm: async () => {
        await unwrap(client.DELETE("/api/v1/projects/{project_id}/members/{user_id}", { params: { path: { project_id: project.id, user_id: member.user_id } } }));
        await queryClient.invalidateQueries({ queryKey: ["project-members", project.id] });
      },
    });
  return (
    <Card withBorder data-testid={`project-${project.name}`}>
      <Stack gap="sm">
        <Group justify="space-between">
          <div>
            <Title order={5}>{project.name}</Title>
            <Text size="xs" c="dimmed" ff="monospace">{project.id}</Text>
          </div>
          {project.role ? <Badge>{`you: ${project.role}`}</Badge> : <Badge color="gray">platform admin</Badge>}
        </Group>
        {members.error && <Alert color="red">{members.error.message}</Alert>}
        <MembersTable members={members.data?.items ?? []} canManage={canManage} onRemove={remove} />
        {canManage && <AddMember project={project} />}
        {canManage && <QuotaUsage projectId={project.id} platformAdmin={props.platformAdmin} />}
      </Stack>
    </Card>
  );
}

export function ProjectsPage() {
  const platformAdmin = useCan("admin");
  const list = useQuery({ queryKey: ["projects"], queryFn: () => unwrap(client.GET("/api/v1/projects")) });
  const [creating, setCreating] = useState(false);
  return (
    <Page
      title="Projects"
      description="Each project owns its workflows, runs, credentials and variables; its members see and change only those, in their role there."
      actions={platformAdmin && <Button leftSection={<IconPlus size={16} />} onClick={() => setCreating(true)} data-testid="new-project">New project</Button>}
    >
      {list.error && <Alert color="red">{list.error.message}</Alert>}
      <SimpleGrid cols={{ base: 1, lg: 2 }}>
        {(list.data?.items ?? []).map((project) => <ProjectCard key={project.id} project={project} platformAdmin={platformAdmin} />)}
      </SimpleGrid>
      {list.isSuccess && list.data.items.length === 0 && <Text c="dimmed">You are in no project yet: ask an admin to add you to one.</Text>}
      {creating && <NewProjectModal onClose={() => setCreating(false)} />}
    </Page>
  );
}
