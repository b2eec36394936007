/** The side panel of the selected node: its parameters, its settings, what it did in the last run and its pinned output. */
import { Alert, Badge, Divider, Group, NumberInput, ScrollArea, Select, Stack, Tabs, Text, TextInput, Title } from "@mantine/core";
import { IconPin } from "@tabler/icons-react";
import { NodeRun } from "@/components/node-run";
import type { CatalogEntry, NodeSpec, NodeState, OnError, RetryPolicy } from "@/lib/definition";
import type { Pins } from "../api";
import { ParamsForm } from "./ParamsForm";
import { PinPanel } from "./PinPanel";

export function NodePanel(props: {
  spec: NodeSpec;
  entry: CatalogEntry | undefined;
  problems: string[];
  state: NodeState | undefined;
  readOnly: boolean;
  /** the saved workflow the node's output can be pinned in (none for a new, unsaved workflow) */
  pins?: { workflowId: string; ports: string[]; pinned: Pins[string] | undefined; canPin: boolean };
  onChange: (spec: NodeSpec) => void;
  onRename: (id: string) => boolean;
}) {
  const { spec, entry, state, readOnly } = props;
  const retry = spec.retry ?? {};
  const setRetry = (change: Partial<RetryPolicy>) => {
    const next: RetryPolicy = { ...retry, ...change };
    for (const key of Object.keys(next) as (keyof RetryPolicy)[]) if (next[key] === undefined) delete next[key];
    props.onChange({ ...spec, retry: Object.keys(next).length ? next : undefined });
  };
  return (
    <Stack gap="xs" h="100%" data-testid="node-panel">
      <div style={{ padding: "8px 12px 0" }}>
        <Group justify="space-between">
          <Title order={5}>{spec.id}</Title>
          <Badge variant="light">{spec.type}</Badge>
        </Group>
        <Text size="xs" c="dimmed">{entry?.description ?? "This node type is not in the catalog."}</Text>
        {props.problems.map((problem) => (
          <Alert key={problem} color="red" p={6} mt={6} data-testid="node-problem">
            <Text size="xs">{problem}</Text>
          </Alert>
        ))}
      </div>
      <Tabs defaultValue={state || props.pins?.pinned ? "run" : "params"} keepMounted={false} style={{ flex: 1, display: "flex", flexDirection: "column", minHeight: 0 }}>
        <Tabs.List px="xs">
          <Tabs.Tab value="params">Parameters</Tabs.Tab>
          <Tabs.Tab value="settings">Settings</Tabs.Tab>
          <Tabs.Tab value="run" data-testid="tab-run" rightSection={props.pins?.pinned ? <IconPin size={12} aria-label="output pinned" /> : undefined}>
            Last run
          </Tabs.Tab>
        </Tabs.List>
        <ScrollArea style={{ flex: 1 }} type="auto">
          <Tabs.Panel value="params" p="sm">
            <ParamsForm
              key={`${spec.id}:${spec.type}`}
              schema={entry?.params_schema}
              value={spec.params ?? {}}
              readOnly={readOnly}
              onChange={(params) => props.onChange({ ...spec, params })}
            />
          </Tabs.Panel>
          <Tabs.Panel value="settings" p="sm">
            <Stack gap="sm">
              <TextInput
                label="Node id"
                description="Expressions refer to it as nodes[&quot;id&quot;]"
                defaultValue={spec.id}
                disabled={readOnly}
                onBlur={(event) => {
                  const id = event.currentTarget.value.trim();
                  if (id && id !== spec.id && !props.onRename(id)) event.currentTarget.value = spec.id;
                }}
              />
              <NumberInput
                label="Timeout (seconds)"
                description="Fail the attempt after this long; empty: the node type's default"
                value={spec.timeout_seconds ?? ""}
                min={0}
                disabled={readOnly}
                onChange={(value) => props.onChange({ ...spec, timeout_seconds: typeof value === "number" && value > 0 ? value : undefined })}
                data-testid="setting-timeout"
              />
              <Text size="sm" fw={600}>Retry</Text>
              <Group grow>
                <NumberInput label="Max attempts" min={1} max={100} value={retry.max_attempts ?? ""} disabled={readOnly} onChange={(v) => setRetry({ max_attempts: typeof v === "number" ? v : undefined })} data-testid="setting-attempts" />
                <NumberInput label="Backoff (s)" min={0} value={retry.backoff_seconds ?? ""} disabled={readOnly} onChange={(v) => setRetry({ backoff_seconds: typeof v === "number" ? v : undefined })} />
                <NumberInput label="Max backoff (s)" min={0} value={retry.max_backoff_seconds ?? ""} disabled={readOnly} onChange={(v) => setRetry({ max_backoff_seconds: typeof v === "number" ? v : undefined })} />
              </Group>
              <Select
                label="On error"
                value={spec.on_error ?? "fail"}
                disabled={readOnly}
                allowDeselect={false}
                data={[
                  { value: "fail", label: "fail the run" },
                  { value: "continue", label: "continue with the next node" },
                  { value: "error_port", label: "send the error to an error port" },
                ]}
                onChange={(value) => props.onChange({ ...spec, on_error: (value as OnError) ?? undefined })}
              />
            </Stack>
          </Tabs.Panel>
          <Tabs.Panel value="run" p="sm">
            <Stack gap="md">
              <NodeRun state={state} />
              {props.pins && (
                <>
                  <Divider />
                  <PinPanel workflowId={props.pins.workflowId} nodeId={spec.id} ports={props.pins.ports} pinned={props.pins.pinned} state={state} readOnly={!props.pins.canPin} />
                </>
              )}
            </Stack>
          </Tabs.Panel>
        </ScrollArea>
      </Tabs>
    </Stack>
  );
}

