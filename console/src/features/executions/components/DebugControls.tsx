/**
 * A debug run paused before a node: where and why, its input (editable), and Step / Continue.
 */
import { Alert, Button, Group, JsonInput, Stack, Text } from "@mantine/core";
import { IconPlayerPlay, IconPlayerTrackNext } from "@tabler/icons-react";
import { useState } from "react";
import type { Execution } from "@/lib/definition";
import { debugContinue, debugInput, debugStep } from "../api";

/** ``input``: what the node will run on (the operator's edit, else what reached it); null in runs paused by an
 * engine that did not record it, where the node's own input stands in. */
type PausedAt = { node: string; reason: string; input?: Record<string, unknown>[] | null };

export function pausedAt(run: Execution): PausedAt | null {
  const debug = (run as { debug?: { paused_at?: PausedAt | null } | null }).debug;
  return run.status === "paused" && debug?.paused_at ? debug.paused_at : null;
}

export function DebugControls({ run, act }: { run: Execution; act: (what: () => Promise<void>, done: string) => void }) {
  const paused = pausedAt(run);
  const input = paused ? (paused.input ?? run.nodes[paused.node]?.input) : undefined;
  const [text, setText] = useState<string | null>(null);
  if (!paused) return null;
  const shown = text ?? JSON.stringify(input ?? [], null, 2);
  const edited = text !== null && text !== JSON.stringify(input ?? [], null, 2);
  const saveThen = async (then: (id: string) => Promise<void>) => {
    if (edited) {
      const items = JSON.parse(shown) as Record<string, unknown>[];
      await debugInput(run.id, Array.isArray(items) ? items : [items]);
    }
    setText(null);
    await then(run.id);
  };
  return (
    <Alert color="orange" radius={0} py={6} data-testid="debug-paused">
      <Stack gap={6}>
        <Text size="sm">
          Paused before <b data-testid="debug-node">{paused.node}</b> ({paused.reason})
        </Text>
        <JsonInput
          label={`Input of ${paused.node}`}
          value={shown}
          onChange={setText}
          validationError="not JSON"
          autosize
          maxRows={10}
          data-testid="debug-input"
        />
        <Group gap={6}>
          <Button size="xs" leftSection={<IconPlayerTrackNext size={14} />} onClick={() => act(() => saveThen(debugStep), "Stepped")} data-testid="debug-step">
            Step
          </Button>
          <Button size="xs" variant="light" leftSection={<IconPlayerPlay size={14} />} onClick={() => act(() => saveThen(debugContinue), "Continued")} data-testid="debug-continue">
            Continue
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}
