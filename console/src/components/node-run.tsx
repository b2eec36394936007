import { Alert, Badge, Group, Stack, Text } from "@mantine/core";
import { ItemsView } from "@/components/data";
import { StatusBadge } from "@/components/status";
import type { NodeState } from "@/lib/definition";

/** What a node did in a run: status, attempts, error, input and output (per port when there are several). */
export function NodeRun({ state }: { state: NodeState | undefined }) {
  if (!state) return <Text size="sm" c="dimmed">Run the workflow to see this node's input and output.</Text>;
  const ports = state.ports ? Object.entries(state.ports) : [];
  return (
    <Stack gap="sm" data-testid="node-run">
      <Group gap="xs">
        <StatusBadge status={state.status} />
        <Text size="xs" c="dimmed">attempt{state.attempts === 1 ? "" : "s"}: {state.attempts}</Text>
        {state.port && <Badge size="xs" variant="outline">port {state.port}</Badge>}
      </Group>
      {state.error && (
        <Alert color="red" title="Error" p="xs" data-testid="node-error">
          <Text size="xs" style={{ whiteSpace: "pre-wrap" }}>{state.error}</Text>
        </Alert>
      )}
      <ItemsView label="Input" items={state.input} testId="node-input" />
      {ports.length > 1 ? (
        ports.map(([port, items]) => <ItemsView key={port} label={`Output · ${port}`} items={items} testId={`node-output-${port}`} />)
      ) : (
        <ItemsView label="Output" items={state.output} testId="node-output" />
      )}
    </Stack>
  );
}
