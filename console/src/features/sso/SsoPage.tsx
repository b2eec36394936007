/** Admins: single sign-on providers (OpenID Connect by discovery URL, Google, Microsoft, GitHub), their group →
 * role grants, and whether password sign-in is refused to everyone but the first admin. Secrets go in, never out. */
import { Alert, Badge, Button, Code, Group, Modal, PasswordInput, Select, Stack, Switch, Table, Text, Textarea, TextInput } from "@mantine/core";
import type { ChangeEvent } from "react";
import { modals } from "@mantine/modals";
import { notifications } from "@mantine/notifications";
import { IconPlus } from "@tabler/icons-react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Page } from "@/components/page";
import { client, unwrap, type Schemas } from "@/lib/api-client";
import type { Role } from "@/lib/auth";
import { parseGrants, ROLES } from "./grants";

type Provider = Schemas["SsoProviderView"];
type Kind = "oidc" | "google" | "microsoft" | "github";
const KINDS: { value: Kind; label: string }[] = [
  { value: "oidc", label: "OpenID Connect (any provider)" },
  { value: "google", label: "Google" },
  { value: "microsoft", label: "Microsoft" },
  { value: "github", label: "GitHub" },
];
const NO_SIGN_UP = "none";

export function callbackUrl(name: string, origin: string = window.location.origin): string {
  return `${origin}/api/v1/auth/sso/${name || "<name>"}/callback`;
}

/** The body of POST /api/v1/auth/sso/providers for what the form holds. */
export function newProviderBody(form: {
  kind: Kind;
  name: string;
  displayName: string;
  clientId: string;
  clientSecret: string;
  discoveryUrl: string;
  tenant: string;
  githubUrl: string;
  apiUrl: string;
  grants: string;
  defaultRole: string;
}): { body?: Schemas["NewSsoProvider"]; problem?: string } {
  const { grants, problem } = parseGrants(form.grants);
  if (problem) return { problem };
  const body: Schemas["NewSsoProvider"] = {
    name: form.name.trim(),
    kind: form.kind === "github" ? "github" : "oidc",
    client_id: form.clientId.trim(),
    client_secret: form.clientSecret,
    grants,
    default_role: form.defaultRole === NO_SIGN_UP ? null : (form.defaultRole as Role),
  };
  if (form.displayName.trim()) body.display_name = form.displayName.trim();
  if (form.kind === "oidc") body.discovery_url = form.discoveryUrl.trim();
  if (form.kind === "google" || form.kind === "microsoft") body.preset = form.kind;
  if (form.kind === "microsoft" && form.tenant.trim()) body.tenant = form.tenant.trim();
  if (form.kind === "github" && form.githubUrl.trim()) body.github_url = form.githubUrl.trim();
  if (form.kind === "github" && form.apiUrl.trim()) body.api_url = form.apiUrl.trim();
  return { body };
}

function NewProvider({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [form, setForm] = useState({
    kind: "oidc" as Kind,
    name: "",
    displayName: "",
    clientId: "",
    clientSecret: "",
    discoveryUrl: "",
    tenant: "",
    githubUrl: "",
    apiUrl: "",
    grants: "",
    defaultRole: NO_SIGN_UP,
  });
  const [error, setError] = useState<string | null>(null);
  const set = (field: keyof typeof form) => (value: string) => setForm((f) => ({ ...f, [field]: value }));
  const text = (field: keyof typeof form) => ({
    value: form[field],
    onChange: (e: ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => set(field)(e.currentTarget.value),
  });
  return (
    <Modal opened={opened} onClose={onClose} title="Add a single sign-on provider" size="lg">
      <Stack>
        <Select label="Provider" data={KINDS} value={form.kind} onChange={(v) => v && set("kind")(v)} allowDeselect={false} data-testid="sso-kind" />
        <TextInput label="Name" description="lowercase letters, digits and dashes: it is in the sign-in URLs" {...text("name")} data-testid="sso-name" />
        <Text size="xs" c="dimmed">
          Register this redirect URI at the provider: <Code>{callbackUrl(form.name)}</Code>
        </Text>
        <TextInput label="Button text" placeholder="e.g. Corp SSO" {...text("displayName")} data-testid="sso-display-name" />
        {form.kind === "oidc" && <TextInput label="Discovery URL" placeholder="https://idp.example.com/.well-known/openid-configuration" {...text("discoveryUrl")} data-testid="sso-discovery" />}
        {form.kind === "microsoft" && <TextInput label="Tenant" placeholder="common" {...text("tenant")} />}
        {form.kind === "github" && (
          <Group grow>
            <TextInput label="GitHub URL" placeholder="https://github.com" {...text("githubUrl")} />
            <TextInput label="API URL" placeholder="https://api.github.com" {...text("apiUrl")} />
          </Group>
        )}
        <TextInput label="Client ID" {...text("clientId")} data-testid="sso-client-id" />
        <PasswordInput label="Client secret" description="stored encrypted; never shown again" {...text("clientSecret")} data-testid="sso-client-secret" />
        <Textarea
          label="Groups → roles"
          description="one group=role a line, matched against the groups claim (the highest role wins)"
          autosize
          minRows={2}
          {...text("grants")}
          data-testid="sso-grants"
        />
        <Select
          label="Role of new accounts no group matched"
          data={[{ value: NO_SIGN_UP, label: "no account (sign-up off)" }, ...ROLES.map((r) => ({ value: r, label: r }))]}
          value={form.defaultRole}
          onChange={(v) => v && set("defaultRole")(v)}
          allowDeselect={false}
          data-testid="sso-default-role"
        />
        {error && <Alert color="red">{error}</Alert>}
        <Button
          data-testid="sso-create"
          onClick={async () => {
            const { body, problem } = newProviderBody(form);
            if (!body) return setError(problem ?? "incomplete");
            try {
              await unwrap(client.POST("/api/v1/auth/sso/providers", { body }));
              await queryClient.invalidateQueries({ queryKey: ["sso"] });
              onClose();
            } catch (e) {
              setError((e as Error).message);
            }
          }}
        >
          Add the provider
        </Button>
      </Stack>
    </Modal>
  );
}

function ProviderRow({ provider }: { provider: Provider }) {
  const queryClient = useQueryClient();
  const change = async (body: Schemas["SsoProviderChange"]) => {
    try {
      await unwrap(client.PATCH("/api/v1/auth/sso/providers/{provider}", { params: { path: { provider: provider.name } }, body }));
      await queryClient.invalidateQueries({ queryKey: ["sso"] });
    } catch (e) {
      notifications.show({ color: "red", message: (e as Error).message });
    }
  };
  return (
    <Table.Tr data-testid={`sso-row-${provider.name}`}>
      <Table.Td>
        <Text fw={500}>{provider.display_name}</Text>
        <Text size="xs" c="dimmed">
          {provider.name} · {provider.kind === "github" ? "GitHub" : "OpenID Connect"}
        </Text>
      </Table.Td>
      <Table.Td>
        <Text size="xs" style={{ wordBreak: "break-all" }}>
          {provider.discovery_url ?? provider.github_url}
        </Text>
      </Table.Td>
      <Table.Td>
        <Group gap={4}>
          {(provider.grants ?? []).map((g) => (
            <Badge key={g.group} variant="light" size="sm">
              {g.group} → {g.role}
            </Badge>
          ))}
          {(provider.grants ?? []).length === 0 && <Text size="xs" c="dimmed">none</Text>}
        </Group>
      </Table.Td>
      <Table.Td>{provider.default_role ?? <Text size="xs" c="dimmed">sign-up off</Text>}</Table.Td>
      <Table.Td>
        <Switch checked={provider.enabled} onChange={(e) => change({ enabled: e.currentTarget.checked })} aria-label={`enable ${provider.name}`} />
      </Table.Td>
      <Table.Td>
        <Button
          size="xs"
          variant="subtle"
          color="red"
          onClick={() =>
            modals.openConfirmModal({
              title: `Remove ${provider.display_name}?`,
              children: <Text size="sm">Its accounts stay; they sign in another way.</Text>,
              labels: { confirm: "Remove", cancel: "Keep" },
              confirmProps: { color: "red" },
              onConfirm: async () => {
                await unwrap(client.DELETE("/api/v1/auth/sso/providers/{provider}", { params: { path: { provider: provider.name } } }));
                await queryClient.invalidateQueries({ queryKey: ["sso"] });
              },
            })
          }
        >
          Remove
        </Button>
      </Table.Td>
    </Table.Tr>
  );
}

export function SsoPage() {
  const queryClient = useQueryClient();
  const [adding, setAdding] = useState(false);
  const providers = useQuery({ queryKey: ["sso", "providers"], queryFn: () => unwrap(client.GET("/api/v1/auth/sso/providers")) });
  const settings = useQuery({ queryKey: ["sso", "settings"], queryFn: () => unwrap(client.GET("/api/v1/auth/sso/settings")) });
  const items = providers.data?.items ?? [];
  return (
    <Page title="Single sign-on">
      <Stack>
        <Group justify="space-between">
          <Switch
            label="Require single sign-on (password sign-in only for the first admin: break-glass)"
            checked={settings.data?.require_sso ?? false}
            data-testid="sso-require"
            onChange={async (e) => {
              try {
                await unwrap(client.PUT("/api/v1/auth/sso/settings", { body: { require_sso: e.currentTarget.checked } }));
              } catch (err) {
                notifications.show({ color: "red", message: (err as Error).message });
              }
              await queryClient.invalidateQueries({ queryKey: ["sso"] });
            }}
          />
          <Button leftSection={<IconPlus size={16} />} onClick={() => setAdding(true)} data-testid="sso-add">
            Add provider
          </Button>
        </Group>
        <Table striped data-testid="sso-providers">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Provider</Table.Th>
              <Table.Th>Discovery / GitHub URL</Table.Th>
              <Table.Th>Groups → roles</Table.Th>
              <Table.Th>New accounts</Table.Th>
              <Table.Th>Enabled</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items.map((p) => (
              <ProviderRow key={p.name} provider={p} />
            ))}
          </Table.Tbody>
        </Table>
        {items.length === 0 && !providers.isLoading && <Text c="dimmed">No provider yet: people sign in with passwords.</Text>}
      </Stack>
      <NewProvider opened={adding} onClose={() => setAdding(false)} />
    </Page>
  );
}
