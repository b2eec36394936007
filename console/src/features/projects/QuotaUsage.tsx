/** A project's quotas beside what it uses: its admins see it, platform admins also set the quotas. A start beyond
 * a quota is refused with 429, so a bar near its end is the warning a team gets before its runs stop. */
import { Alert, Button, Group, Modal, NumberInput, Progress, Stack, Table, Text } from "@mantine/core";
import { IconGauge } from "@tabler/icons-react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { client, unwrap, type Schemas } from "@/lib/api-client";

export type Usage = Schemas["ProjectUsage"];
type Quotas = Schemas["ProjectQuotas"];
type QuotaName = keyof Quotas;

const ROWS: { name: QuotaName; label: string; used: (u: Usage["usage"]) => number; bytes?: boolean }[] = [
  { name: "executions_per_day", label: "Executions today", used: (u) => u.executions_today },
  { name: "concurrent_runs", label: "Concurrent runs", used: (u) => u.concurrent_runs },
  { name: "stored_bytes", label: "Stored execution data", used: (u) => u.stored_bytes, bytes: true },
];

export function formatAmount(value: number, bytes = false): string {
  if (!bytes) return value.toLocaleString("en");
  const units = ["B", "KB", "MB", "GB", "TB"];
  let amount = value;
  let unit = 0;
  while (amount >= 1000 && unit < units.length - 1) {
    amount /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? amount : amount.toFixed(1)} ${units[unit]}`;
}

/** The table of quotas: what is used of each, and how close it is to its limit. */
export function UsageTable(props: { usage: Usage }) {
  const { quotas, usage } = props.usage;
  return (
    <Table verticalSpacing={4} data-testid="usage-table">
      <Table.Tbody>
        {ROWS.map((row) => {
          const limit = quotas[row.name] ?? null;
          const used = row.used(usage);
          const share = limit === null ? 0 : limit === 0 ? 100 : Math.min(100, (used / limit) * 100);
          return (
            <Table.Tr key={row.name} data-testid={`usage-${row.name}`}>
              <Table.Td w="40%"><Text size="sm">{row.label}</Text></Table.Td>
              <Table.Td>
                <Text size="sm">
                  {formatAmount(used, row.bytes)} of {limit === null ? "no limit" : formatAmount(limit, row.bytes)}
                </Text>
                {limit !== null && <Progress value={share} color={share >= 100 ? "red" : share >= 80 ? "orange" : "blue"} size="sm" aria-label={`${row.label} used`} />}
              </Table.Td>
            </Table.Tr>
          );
        })}
      </Table.Tbody>
    </Table>
  );
}

function QuotasModal(props: { usage: Usage; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [values, setValues] = useState<Quotas>(props.usage.quotas);
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    try {
      await unwrap(client.PUT("/api/v1/projects/{project_id}/quotas", { params: { path: { project_id: props.usage.project_id } }, body: values }));
      await queryClient.invalidateQueries({ queryKey: ["project-usage", props.usage.project_id] });
      props.onClose();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Modal opened onClose={props.onClose} title="Quotas">
      <Stack>
        <Text size="sm" c="dimmed">Leave a field empty for no limit. Every engine replica applies a change within 5 seconds.</Text>
        {ROWS.map((row) => (
          <NumberInput
            key={row.name}
            label={row.bytes ? `${row.label} (bytes)` : row.name === "executions_per_day" ? "Executions per day (UTC)" : row.label}
            min={0}
            allowDecimal={false}
            value={values[row.name] ?? ""}
            onChange={(value) => setValues({ ...values, [row.name]: typeof value === "number" ? value : null })}
            data-testid={`quota-${row.name}`}
          />
        ))}
        {error && <Alert color="red">{error}</Alert>}
        <Button onClick={save} data-testid="quotas-save">Save</Button>
      </Stack>
    </Modal>
  );
}

export function QuotaUsage(props: { projectId: string; platformAdmin: boolean }) {
  const usage = useQuery({
    queryKey: ["project-usage", props.projectId],
    queryFn: () => unwrap(client.GET("/api/v1/projects/{project_id}/usage", { params: { path: { project_id: props.projectId } } })),
    refetchInterval: 15_000,
  });
  const [editing, setEditing] = useState(false);
  return (
    <Stack gap={4} data-testid="project-usage">
      <Group justify="space-between">
        <Text size="sm" fw={600}>Usage</Text>
        {props.platformAdmin && usage.data && (
          <Button size="compact-xs" variant="light" leftSection={<IconGauge size={14} />} onClick={() => setEditing(true)} data-testid="quotas-edit">Set quotas</Button>
        )}
      </Group>
      {usage.error && <Alert color="red" p="xs">{usage.error.message}</Alert>}
      {usage.data && <UsageTable usage={usage.data} />}
      {editing && usage.data && <QuotasModal usage={usage.data} onClose={() => setEditing(false)} />}
    </Stack>
  );
}
