/**
 * A node's pinned output: what the editor's test runs take in place of running the node. Pin the last run's or a
 * step test's output (per port), pin hand-written items, or unpin. Pins live in the draft: pinning makes no version.
 */
import { Alert, Badge, Button, Group, Select, Stack, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconPin, IconPinnedOff, IconTestPipe } from "@tabler/icons-react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ItemsView, JsonEditor } from "@/components/data";
import { MAIN, type NodeState } from "@/lib/definition";
import { workflowKeys } from "@/lib/queries";
import { StatusBadge } from "@/components/status";
import { pinOutput, testStep, unpinOutput, type Pins, type StepTestResult } from "../api";

type Items = Record<string, unknown>[];

/** A pin's items: a JSON array of objects (an empty array is a node that produced nothing). */
export function parsePinnedItems(text: string): Items {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(value)) throw new Error('a pinned output is a JSON array of objects, like [{"n": 1}]');
  const bad = value.findIndex((item) => item === null || typeof item !== "object" || Array.isArray(item));
  if (bad >= 0) throw new Error(`item ${bad + 1} is not a JSON object: a pinned output is a JSON array of objects`);
  return value as Items;
}

/** The outputs of a node's last run that can be pinned: one per port it emitted on. */
export function runOutputs(state: NodeState | undefined): [string, Items][] {
  if (!state || state.status !== "succeeded") return [];
  if (state.ports && Object.keys(state.ports).length > 0) return Object.entries(state.ports);
  return state.output ? [[state.port ?? MAIN, state.output]] : [];
}

/** The outputs of a step test, one per port. */
export function stepOutputs(result: StepTestResult | undefined): [string, Items][] {
  if (!result || result.status !== "succeeded") return [];
  return Object.keys(result.ports).length > 0 ? Object.entries(result.ports) : [[MAIN, result.output ?? []]];
}

function PinButtons(props: { outputs: [string, Items][]; source: "run" | "step"; busyPort: string | undefined; pinning: boolean; onPin: (port: string, items: Items) => void }) {
  const many = props.outputs.length > 1;
  return (
    <Group gap={6}>
      {props.outputs.map(([port, items]) => (
        <Button
          key={port}
          size="xs"
          variant="light"
          color="grape"
          leftSection={<IconPin size={14} />}
          loading={props.busyPort === port}
          disabled={props.pinning}
          onClick={() => props.onPin(port, items)}
          data-testid={`pin-${props.source === "run" ? "output" : "step"}-${port}`}
        >
          {many ? `Pin output · ${port}` : "Pin this output"}
        </Button>
      ))}
    </Group>
  );
}

export function PinPanel(props: {
  workflowId: string;
  nodeId: string;
  ports: string[];
  pinned: Pins[string] | undefined;
  state: NodeState | undefined;
  readOnly: boolean;
}) {
  const { workflowId, nodeId, pinned } = props;
  const queryClient = useQueryClient();
  const [text, setText] = useState<string | null>(null);
  const [port, setPort] = useState(props.ports[0] ?? MAIN);
  const [error, setError] = useState<string | null>(null);

  const changed = async () => {
    await queryClient.invalidateQueries({ queryKey: workflowKeys.one(workflowId) });
  };
  const pin = useMutation({
    mutationFn: (pin: { port: string; items: Items; from: "run" | "step" | "json" }) => pinOutput(workflowId, nodeId, pin.port, pin.items),
    onSuccess: async (_, pin) => {
      if (pin.from === "json") setText(null); // the editor shows the pin now; a pin from a button leaves what is being typed
      await changed();
      notifications.show({ color: "green", message: `Pinned ${pin.items.length} item${pin.items.length === 1 ? "" : "s"} as ${nodeId}'s output` });
    },
    onError: (failure) => notifications.show({ color: "red", title: "Not pinned", message: failure.message }),
  });
  const unpin = useMutation({
    mutationFn: () => unpinOutput(workflowId, nodeId),
    onSuccess: async () => {
      await changed();
      notifications.show({ message: `${nodeId} runs again in test runs` });
    },
    onError: (failure) => notifications.show({ color: "red", title: "Not unpinned", message: failure.message }),
  });

  const step = useMutation({
    mutationFn: () => testStep(workflowId, nodeId, props.state?.input ?? [{}]),
    onError: (failure) => notifications.show({ color: "red", title: "The step test did not run", message: failure.message }),
  });

  const pinnedPorts = pinned ? Object.entries(pinned) : [];
  const outputs = runOutputs(props.state);
  const shown = text ?? JSON.stringify(pinnedPorts[0]?.[1] ?? outputs[0]?.[1] ?? [{}], null, 2);
  const pinText = () => {
    try {
      const items = parsePinnedItems(shown);
      setError(null);
      pin.mutate({ port, items, from: "json" });
    } catch (failure) {
      setError((failure as Error).message);
    }
  };

  return (
    <Stack gap="sm" data-testid="pin-panel">
      <Group gap="xs">
        <Text size="sm" fw={600}>Pinned output</Text>
        {pinned && (
          <Badge size="xs" color="grape" leftSection={<IconPin size={10} />} data-testid="pin-state">
            pinned
          </Badge>
        )}
      </Group>
      <Text size="xs" c="dimmed">
        A test run takes a pinned output in place of running the node. Plain and triggered runs never do.
      </Text>
      {pinnedPorts.map(([pinnedPort, items]) => (
        <ItemsView key={pinnedPort} label={`Pinned · ${pinnedPort}`} items={items} testId={`pinned-output-${pinnedPort}`} />
      ))}
      {!props.readOnly && (
        <>
          {pinned && (
            <Button size="xs" variant="light" color="red" leftSection={<IconPinnedOff size={14} />} w="fit-content" loading={unpin.isPending} onClick={() => unpin.mutate()} data-testid="unpin-button">
              Unpin
            </Button>
          )}
          {outputs.length > 0 && (
            <PinButtons outputs={outputs} source="run" busyPort={pin.isPending && pin.variables?.from === "run" ? pin.variables.port : undefined} pinning={pin.isPending} onPin={(outputPort, items) => pin.mutate({ port: outputPort, items, from: "run" })} />
          )}
          <Group gap={6}>
            <Button size="xs" variant="default" leftSection={<IconTestPipe size={14} />} loading={step.isPending} onClick={() => step.mutate()} data-testid="test-step-button">
              Test this step
            </Button>
            <Text size="xs" c="dimmed">on {props.state?.input ? "the last run's input" : "one empty item"}, running it even if pinned</Text>
          </Group>
          {step.data && (
            <Stack gap={6} data-testid="step-result">
              <Group gap="xs">
                <Text size="sm" fw={600}>Step test</Text>
                <StatusBadge status={step.data.status} size="xs" />
              </Group>
              {step.data.error && (
                <Alert color="red" p={6}>
                  <Text size="xs">{step.data.error}</Text>
                </Alert>
              )}
              {stepOutputs(step.data).map(([outputPort, items]) => (
                <ItemsView key={outputPort} label={`Step output · ${outputPort}`} items={items} testId={`step-output-${outputPort}`} />
              ))}
              <PinButtons outputs={stepOutputs(step.data)} source="step" busyPort={pin.isPending && pin.variables?.from === "step" ? pin.variables.port : undefined} pinning={pin.isPending} onPin={(outputPort, items) => pin.mutate({ port: outputPort, items, from: "step" })} />
            </Stack>
          )}
          <JsonEditor
            label={pinned ? "Pin other items" : "Pin items written by hand"}
            description="a JSON array of objects: the node's output items"
            value={shown}
            onChange={(value) => {
              setText(value);
              setError(null);
            }}
            minRows={3}
            formatOnBlur={false}
            testId="pin-json"
          />
          {props.ports.length > 1 && (
            <Select size="xs" label="Port" data={props.ports} value={port} allowDeselect={false} onChange={(value) => setPort(value ?? MAIN)} data-testid="pin-port" />
          )}
          {error && (
            <Alert color="red" p={6} data-testid="pin-error">
              <Text size="xs">{error}</Text>
            </Alert>
          )}
          <Button size="xs" variant="default" leftSection={<IconPin size={14} />} w="fit-content" loading={pin.isPending && pin.variables?.from === "json"} disabled={pin.isPending} onClick={pinText} data-testid="pin-json-button">
            Pin these items
          </Button>
        </>
      )}
    </Stack>
  );
}
