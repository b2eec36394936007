/** Templates: ready-made workflows shipped with Flowtape. Pick one, fill its parameters (a credential parameter
 * lists the credentials of its type), and it becomes a new, inactive workflow in the chosen project. */
import { Alert, Badge, Button, Card, Group, Modal, Select, SimpleGrid, Stack, Text, TextInput, Title } from "@mantine/core";
import { IconTemplate } from "@tabler/icons-react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { Page } from "@/components/page";
import { ProjectSelect } from "@/features/projects/ProjectSelect";
import { client, unwrap, type Schemas } from "@/lib/api-client";
import { useCan, useMe } from "@/lib/auth";
import { workflowKeys } from "@/lib/queries";

type Template = Schemas["TemplateInfo"];
export type Parameter = { name: string; description: string; default?: unknown; required?: boolean; credential_type?: string | null };

/** What the form sends for a parameter: a number where the default is one (a port, a page count), else the text. */
export function parameterValue(parameter: Parameter, text: string): unknown {
  if (typeof parameter.default === "number" && text.trim() !== "" && !Number.isNaN(Number(text))) return Number(text);
  return text;
}

/** The parameters to send: what was typed, leaving out untouched optional ones so their defaults apply. */
export function filledParameters(parameters: Parameter[], typed: Record<string, string>): Record<string, unknown> {
  const filled: Record<string, unknown> = {};
  for (const parameter of parameters) {
    const text = typed[parameter.name];
    if (text === undefined || (text === "" && !parameter.required)) continue;
    filled[parameter.name] = parameterValue(parameter, text);
  }
  return filled;
}

function CredentialField(props: { parameter: Parameter; value: string; onChange: (v: string) => void }) {
  const list = useQuery({ queryKey: ["credentials"], queryFn: () => unwrap(client.GET("/api/v1/credentials", { params: { query: { limit: 500 } } })) });
  const choices = (list.data?.items ?? []).filter((c) => c.type === props.parameter.credential_type).map((c) => ({ value: c.name, label: c.name }));
  return (
    <Select
      label={props.parameter.name}
      description={`${props.parameter.description} (a ${props.parameter.credential_type} credential)`}
      data={choices}
      value={props.value || null}
      onChange={(value) => props.onChange(value ?? "")}
      required={props.parameter.required}
      placeholder={choices.length ? "choose one" : `no ${props.parameter.credential_type} credential yet: add one on the Credentials page`}
      data-testid={`template-param-${props.parameter.name}`}
    />
  );
}

function UseTemplate(props: { template: Template; onClose: () => void }) {
  const me = useMe();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const parameters = props.template.parameters as unknown as Parameter[];
  const [typed, setTyped] = useState<Record<string, string>>({});
  const [name, setName] = useState(props.template.name);
  const [project, setProject] = useState<string | null>(me.default_project ?? null);
  const [error, setError] = useState<string | null>(null);
  const create = async () => {
    try {
      const made = await unwrap(
        client.POST("/api/v1/templates/{template_id}/instantiate", {
          params: { path: { template_id: props.template.id } },
          body: { name, parameters: filledParameters(parameters, typed), ...(project ? { project_id: project } : {}) },
        }),
      );
      await queryClient.invalidateQueries({ queryKey: workflowKeys.all });
      navigate(`/workflows/${made.id}`);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const set = (key: string) => (value: string) => setTyped({ ...typed, [key]: value });
  return (
    <Modal opened onClose={props.onClose} title={`New workflow from "${props.template.name}"`} size="lg">
      <Stack>
        <TextInput label="Workflow name" value={name} onChange={(e) => setName(e.currentTarget.value)} data-testid="template-name" />
        <ProjectSelect label="Project" value={project} onChange={setProject} role="editor" testId="template-project" width={400} />
        {parameters.map((parameter) =>
          parameter.credential_type ? (
            <CredentialField key={parameter.name} parameter={parameter} value={typed[parameter.name] ?? ""} onChange={set(parameter.name)} />
          ) : (
            <TextInput
              key={parameter.name}
              label={parameter.name}
              description={parameter.description}
              required={parameter.required}
              placeholder={parameter.default === undefined || parameter.default === null ? undefined : `default: ${String(parameter.default)}`}
              value={typed[parameter.name] ?? ""}
              onChange={(e) => set(parameter.name)(e.currentTarget.value)}
              data-testid={`template-param-${parameter.name}`}
            />
          ),
        )}
        {error && <Alert color="red">{error}</Alert>}
        <Button onClick={create} data-testid="template-create">Create workflow</Button>
      </Stack>
    </Modal>
  );
}

export function TemplatesPage() {
  const canEdit = useCan("editor");
  const list = useQuery({ queryKey: ["templates"], queryFn: () => unwrap(client.GET("/api/v1/templates")), staleTime: Infinity });
  const [using, setUsing] = useState<Template | null>(null);
  return (
    <Page title="Templates" description="Ready-made workflows to start from: each becomes a new, inactive workflow you can change before you activate it.">
      {list.error && <Alert color="red">{list.error.message}</Alert>}
      <SimpleGrid cols={{ base: 1, md: 2, xl: 3 }}>
        {(list.data?.items ?? []).map((template) => (
          <Card withBorder key={template.id} data-testid={`template-${template.id}`}>
            <Stack gap={6} h="100%">
              <Group justify="space-between" wrap="nowrap" align="flex-start">
                <Title order={5}>{template.name}</Title>
                <Badge variant="light">{template.category}</Badge>
              </Group>
              <Text size="sm" c="dimmed" style={{ flex: 1 }}>{template.description}</Text>
              <Group gap={4}>
                {template.node_types.map((type) => <Badge key={type} size="xs" color="gray" variant="outline">{type}</Badge>)}
              </Group>
              {canEdit && (
                <Button size="xs" variant="light" leftSection={<IconTemplate size={14} />} onClick={() => setUsing(template)} data-testid={`use-${template.id}`}>
                  Use template
                </Button>
              )}
            </Stack>
          </Card>
        ))}
      </SimpleGrid>
      {using && <UseTemplate template={using} onClose={() => setUsing(null)} />}
    </Page>
  );
}
