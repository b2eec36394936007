import { Alert, Button, Drawer, MultiSelect, Stack, Text } from "@mantine/core";
import { useState } from "react";
import { JsonEditor, parseItems } from "@/components/data";

/** Test input for a run: one JSON object (one item) or a list of them. A test run also takes the pinned outputs.
 * Choosing nodes to pause before makes it a debug run (stepped and continued in the run inspector). */
export function RunDrawer(props: { opened: boolean; test?: boolean; nodeIds?: string[]; onClose: () => void; onRun: (input: Record<string, unknown>[], breakpoints: string[]) => Promise<void> }) {
  const [text, setText] = useState('{\n  "n": 30\n}');
  const [breakpoints, setBreakpoints] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Drawer opened={props.opened} onClose={props.onClose} position="right" title={props.test ? "Test run: pinned outputs stand in for their nodes" : "Run with test input"} size={420}>
      <Stack>
        <Text size="sm" c="dimmed">
          The trigger's items: one JSON object is one item; a list of objects is several.
        </Text>
        <JsonEditor value={text} onChange={setText} minRows={8} testId="run-input" />
        {props.nodeIds && props.nodeIds.length > 0 && (
          <MultiSelect
            label="Debug: pause before"
            description="A debug run stops before these nodes; step or continue it in the run inspector."
            data={props.nodeIds}
            value={breakpoints}
            onChange={setBreakpoints}
            clearable
            searchable
            comboboxProps={{ withinPortal: false }}
            data-testid="run-breakpoints"
          />
        )}
        {error && <Alert color="red">{error}</Alert>}
        <Button
          loading={busy}
          data-testid="run-submit"
          onClick={async () => {
            let items: Record<string, unknown>[];
            try {
              items = parseItems(text);
            } catch (e) {
              setError((e as Error).message);
              return;
            }
            setError(null);
            setBusy(true);
            try {
              await props.onRun(items, breakpoints);
            } finally {
              setBusy(false);
            }
          }}
        >
          {props.test ? "Test run" : breakpoints.length ? "Debug run" : "Run"}
        </Button>
      </Stack>
    </Drawer>
  );
}
