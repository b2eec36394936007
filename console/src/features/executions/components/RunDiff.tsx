/** Two runs side by side, node by node (`GET /executions/{a}/diff/{b}`): where their paths diverged, which nodes
 * ended differently, and each difference in input and output as a JSON pointer with both values. */
import { Alert, Badge, Button, Code, Group, Modal, Stack, Table, Text, TextInput } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { client, unwrap, type Schemas } from "@/lib/api-client";

export type Diff = Schemas["ExecutionDiff"];
type Changes = Schemas["Changes"];

/** what the API compares besides input and output (each present only where the runs differ) */
const SCALARS = ["status", "port", "error", "attempts"] as const;
const show = (value: unknown) => (value === undefined ? "—" : JSON.stringify(value));

function ChangeRows(props: { what: string; changes: Changes | null | undefined }) {
  if (!props.changes || (props.changes.changes.length === 0 && !props.changes.truncated)) return null;
  return (
    <>
      {props.changes.changes.map((change) => (
        <Table.Tr key={`${props.what}${change.path}`}>
          <Table.Td><Text size="xs" c="dimmed">{props.what} <Code>{change.path || "/"}</Code></Text></Table.Td>
          <Table.Td><Badge size="xs" variant="light" color={change.op === "changed" ? "orange" : change.op === "added" ? "green" : "red"}>{change.op}</Badge></Table.Td>
          <Table.Td><Code>{show(change.a)}</Code></Table.Td>
          <Table.Td><Code>{show(change.b)}</Code></Table.Td>
        </Table.Tr>
      ))}
      {props.changes.truncated && (
        <Table.Tr>
          <Table.Td colSpan={4}><Text size="xs" c="dimmed">more {props.what} changes than shown</Text></Table.Td>
        </Table.Tr>
      )}
    </>
  );
}

/** The diff of runs a and b (ids shortened in the headings). */
export function DiffView({ diff }: { diff: Diff }) {
  if (diff.same) return <Alert color="green" data-testid="diff-same">The two runs took the same path and every node has the same input and output.</Alert>;
  const { paths } = diff;
  return (
    <Stack gap="sm" data-testid="run-diff">
      <Text size="sm" data-testid="diff-paths">
        {paths.diverged_at ? <>The paths diverged at <b>{paths.diverged_at}</b>.</> : "Both runs took the same path."}
        {paths.only_in_a.length > 0 && ` Only in A: ${paths.only_in_a.join(", ")}.`}
        {paths.only_in_b.length > 0 && ` Only in B: ${paths.only_in_b.join(", ")}.`}
      </Text>
      {diff.changed_nodes.map((nodeId) => {
        const node = diff.nodes[nodeId];
        const scalars = SCALARS.filter((field) => node[field]).map((field) => [field, node[field] as { a?: unknown; b?: unknown }] as const);
        const rows = !!(node.input || node.output);
        return (
          <Stack key={nodeId} gap={4} data-testid={`diff-node-${nodeId}`}>
            <Group gap="xs">
              <Text fw={600} size="sm">{nodeId}</Text>
              {node.in !== "both" && <Badge size="xs" color="gray">only in {node.in.toUpperCase()}</Badge>}
              {scalars.map(([field, change]) => (
                <Text key={field} size="xs" c="dimmed">
                  {field} {show(change.a)} → {show(change.b)}
                </Text>
              ))}
            </Group>
            {rows && (
              <Table withTableBorder verticalSpacing={2}>
                <Table.Thead>
                  <Table.Tr><Table.Th>where</Table.Th><Table.Th w={100}>change</Table.Th><Table.Th>A</Table.Th><Table.Th>B</Table.Th></Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  <ChangeRows what="input" changes={node.input} />
                  <ChangeRows what="output" changes={node.output} />
                </Table.Tbody>
              </Table>
            )}
          </Stack>
        );
      })}
      {diff.output.changes.length > 0 && (
        <Table withTableBorder verticalSpacing={2} data-testid="diff-output">
          <Table.Tbody><ChangeRows what="run output" changes={diff.output} /></Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}

/** A button and modal comparing this run (A) with another (B; by default the run it was forked from). */
export function CompareRuns(props: { executionId: string; suggested?: string }) {
  const [opened, setOpened] = useState(false);
  const [other, setOther] = useState(props.suggested ?? "");
  const [asked, setAsked] = useState<string | null>(null);
  const diff = useQuery({
    queryKey: ["diff", props.executionId, asked],
    enabled: !!asked,
    queryFn: () => unwrap(client.GET("/api/v1/executions/{execution_id}/diff/{other_id}", { params: { path: { execution_id: props.executionId, other_id: asked! } } })),
  });
  return (
    <>
      <Button size="xs" variant="default" onClick={() => setOpened(true)} data-testid="compare-button">Compare</Button>
      <Modal opened={opened} onClose={() => setOpened(false)} title={`Compare run ${props.executionId.slice(0, 8)} (A) with another (B)`} size="xl">
        <Stack>
          <Group align="flex-end">
            <TextInput label="The other run's id" value={other} onChange={(e) => setOther(e.currentTarget.value.trim())} style={{ flex: 1 }} data-testid="compare-other" />
            <Button onClick={() => setAsked(other)} disabled={!other} data-testid="compare-submit">Compare</Button>
          </Group>
          {diff.error && <Alert color="red">{diff.error.message}</Alert>}
          {diff.data && <DiffView diff={diff.data} />}
        </Stack>
      </Modal>
    </>
  );
}
