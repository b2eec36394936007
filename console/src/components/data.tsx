/** Items (lists of JSON objects) shown as a table and as JSON, and a JSON editor for test input. */
import { Code, JsonInput, ScrollArea, SegmentedControl, Stack, Table, Text } from "@mantine/core";
import { useState } from "react";

export function JsonView({ value, maxHeight = 320, testId }: { value: unknown; maxHeight?: number; testId?: string }) {
  return (
    <ScrollArea.Autosize mah={maxHeight} type="auto">
      <Code block data-testid={testId} style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
        {JSON.stringify(value, null, 2)}
      </Code>
    </ScrollArea.Autosize>
  );
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function ItemsTable({ items }: { items: Record<string, unknown>[] }) {
  if (items.length === 0) return <Text size="sm" c="dimmed">no items</Text>;
  const columns = Array.from(new Set(items.flatMap((item) => Object.keys(item ?? {}))));
  return (
    <ScrollArea type="auto">
      <Table striped withTableBorder withColumnBorders fz="xs" style={{ minWidth: 200 }}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th w={32}>#</Table.Th>
            {columns.map((column) => (
              <Table.Th key={column}>{column}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((item, index) => (
            <Table.Tr key={index}>
              <Table.Td c="dimmed">{index + 1}</Table.Td>
              {columns.map((column) => (
                <Table.Td key={column}>{cell(item?.[column])}</Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </ScrollArea>
  );
}

/** A node's items, switchable between a table and JSON. */
export function ItemsView({ items, label, testId }: { items: Record<string, unknown>[] | null | undefined; label: string; testId?: string }) {
  const [mode, setMode] = useState<"table" | "json">("table");
  return (
    <Stack gap={4} data-testid={testId}>
      <div style={{ display: "flex", justifyContent: "space-between", alignItems: "center" }}>
        <Text size="sm" fw={600}>
          {label} {items ? <Text span c="dimmed" size="xs">({items.length} item{items.length === 1 ? "" : "s"})</Text> : null}
        </Text>
        <SegmentedControl
          size="xs"
          value={mode}
          onChange={(value) => setMode(value as "table" | "json")}
          data={[
            { label: "Table", value: "table" },
            { label: "JSON", value: "json" },
          ]}
        />
      </div>
      {items == null ? (
        <Text size="sm" c="dimmed">none recorded</Text>
      ) : mode === "table" ? (
        <ItemsTable items={items} />
      ) : (
        <JsonView value={items} maxHeight={240} testId={testId ? `${testId}-json` : undefined} />
      )}
    </Stack>
  );
}

/** Parses a JSON editor's text into items: an object is one item, a list of objects is the items. */
export function parseItems(text: string): Record<string, unknown>[] {
  const value = JSON.parse(text.trim() || "[]");
  const items = Array.isArray(value) ? value : [value];
  if (!items.every((item) => item !== null && typeof item === "object" && !Array.isArray(item))) {
    throw new Error("items are JSON objects: give one object or a list of objects");
  }
  return items as Record<string, unknown>[];
}

export function JsonEditor(props: {
  label?: string;
  value: string;
  onChange: (value: string) => void;
  minRows?: number;
  testId?: string;
  description?: string;
  /** pretty-print on blur (the default); off where a button below would move under the pointer as the text grows */
  formatOnBlur?: boolean;
}) {
  return (
    <JsonInput
      label={props.label}
      description={props.description}
      value={props.value}
      onChange={props.onChange}
      validationError="not valid JSON"
      formatOnBlur={props.formatOnBlur ?? true}
      autosize
      minRows={props.minRows ?? 4}
      maxRows={16}
      styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)", fontSize: 12 } }}
      data-testid={props.testId}
    />
  );
}
