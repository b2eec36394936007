import { Alert, Button, Modal, SegmentedControl, Stack, Text } from "@mantine/core";
import { useState } from "react";
import { JsonEditor, parseItems } from "@/components/data";

/** Replay from a node: its input edited in a JSON editor, on the original or the latest workflow version. */
export function ReplayModal(props: {
  node: string | null;
  input: Record<string, unknown>[] | null | undefined;
  onClose: () => void;
  onReplay: (node: string, version: "original" | "latest", input: Record<string, unknown>[]) => Promise<void>;
}) {
  const [text, setText] = useState(JSON.stringify(props.input ?? [], null, 2));
  const [version, setVersion] = useState<"original" | "latest">("original");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Modal opened={props.node !== null} onClose={props.onClose} title={`Replay from "${props.node}"`} size="lg">
      <Stack>
        <Text size="sm" c="dimmed">
          A new execution forked from this one: nodes that do not depend on {props.node} keep their recorded output; {props.node} and
          everything after it run again with this input.
        </Text>
        <JsonEditor label="Input items" value={text} onChange={setText} minRows={8} testId="replay-input" />
        <div>
          <Text size="sm" fw={500} mb={4}>
            Workflow version
          </Text>
          <SegmentedControl
            value={version}
            onChange={(value) => setVersion(value as "original" | "latest")}
            data={[
              { label: "the version this run used", value: "original" },
              { label: "the latest version", value: "latest" },
            ]}
            data-testid="replay-version"
          />
        </div>
        {error && <Alert color="red">{error}</Alert>}
        <Button
          loading={busy}
          data-testid="replay-submit"
          onClick={async () => {
            let items: Record<string, unknown>[];
            try {
              items = parseItems(text);
            } catch (e) {
              setError((e as Error).message);
              return;
            }
            setBusy(true);
            try {
              await props.onReplay(props.node!, version, items);
            } catch (e) {
              setError((e as Error).message);
            } finally {
              setBusy(false);
            }
          }}
        >
          Replay
        </Button>
      </Stack>
    </Modal>
  );
}
