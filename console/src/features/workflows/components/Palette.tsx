/** The node palette: every catalog entry, grouped by category, searchable; drag one onto the canvas. */
import { Badge, ScrollArea, Stack, Text, TextInput, UnstyledButton } from "@mantine/core";
import { IconSearch } from "@tabler/icons-react";
import { useMemo, useState } from "react";
import type { Catalog, CatalogEntry } from "@/lib/definition";

export const DRAG_TYPE = "application/x-flowtape-node";

const ORDER = ["trigger", "core", "flow", "network", "code"];

export function Palette({ catalog, onAdd }: { catalog: Catalog; onAdd: (type: string) => void }) {
  const [search, setSearch] = useState("");
  const groups = useMemo(() => {
    const needle = search.trim().toLowerCase();
    const found = Object.values(catalog).filter(
      (entry) => !needle || entry.type.includes(needle) || entry.description.toLowerCase().includes(needle) || entry.category.includes(needle),
    );
    const byCategory: Record<string, CatalogEntry[]> = {};
    for (const entry of found) (byCategory[entry.category] ??= []).push(entry);
    return Object.entries(byCategory).sort(([a], [b]) => (ORDER.indexOf(a) + 99) % 99 - (ORDER.indexOf(b) + 99) % 99 || a.localeCompare(b));
  }, [catalog, search]);
  return (
    <Stack gap="xs" h="100%" p="xs" data-testid="palette">
      <TextInput
        size="xs"
        placeholder="Search nodes"
        leftSection={<IconSearch size={14} />}
        value={search}
        onChange={(event) => setSearch(event.currentTarget.value)}
        data-testid="palette-search"
      />
      <ScrollArea style={{ flex: 1 }} type="auto">
        <Stack gap="sm">
          {groups.map(([category, entries]) => (
            <Stack key={category} gap={4}>
              <Text size="xs" tt="uppercase" fw={700} c="dimmed">
                {category}
              </Text>
              {entries.map((entry) => (
                <UnstyledButton
                  key={entry.type}
                  draggable
                  onDragStart={(event) => {
                    event.dataTransfer.setData(DRAG_TYPE, entry.type);
                    event.dataTransfer.effectAllowed = "move";
                  }}
                  onDoubleClick={() => onAdd(entry.type)}
                  title={`${entry.description}\n(drag onto the canvas, or double-click)`}
                  data-testid={`palette-${entry.type}`}
                  style={{
                    border: "1px solid var(--mantine-color-gray-3)",
                    borderRadius: 6,
                    padding: "4px 8px",
                    background: "var(--mantine-color-body)",
                    cursor: "grab",
                  }}
                >
                  <Text size="sm" fw={500}>
                    {entry.type}
                    {entry.ports.length > 1 && (
                      <Badge size="xs" variant="outline" ml={6}>
                        {entry.ports.join(" / ")}
                      </Badge>
                    )}
                  </Text>
                  <Text size="xs" c="dimmed" lineClamp={2}>
                    {entry.description}
                  </Text>
                </UnstyledButton>
              ))}
            </Stack>
          ))}
          {groups.length === 0 && <Text size="sm" c="dimmed">No node matches.</Text>}
        </Stack>
      </ScrollArea>
    </Stack>
  );
}
