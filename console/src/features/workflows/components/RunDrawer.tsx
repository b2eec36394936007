import { Alert, Button, Drawer, Stack, Text } from "@mantine/core";
import { useState } from "react";
import { JsonEditor, parseItems } from "@/components/data";

/** Test input for a run: one JSON object (one item) or a list of them. A test run also takes the pinned outputs. */
export function RunDrawer(props: { opened: boolean; test?: boolean; onClose: () => void; onRun: (input: Record<string, unknown>[]) => Promise<void> }) {
  const [text, setText] = useState('{\n  "n": 30\n}');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Drawer opened={props.opened} onClose={props.onClose} position="right" title={props.test ? "Test run: pinned outputs stand in for their nodes" : "Run with test input"} size={420}>
      <Stack>
        <Text size="sm" c="dimmed">
          The trigger's items: one JSON object is one item; a list of objects is several.
        </Text>
        <JsonEditor value={text} onChange={setText} minRows={8} testId="run-input" />
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
              await props.onRun(items);
            } finally {
              setBusy(false);
            }
          }}
        >
          {props.test ? "Test run" : "Run"}
        </Button>
      </Stack>
    </Drawer>
  );
}
