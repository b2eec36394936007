import { Group, ScrollArea, Stack, Text, Title } from "@mantine/core";
import type { ReactNode } from "react";

/** A scrolling page with a title row and actions on the right. */
export function Page({ title, description, actions, children }: { title: ReactNode; description?: ReactNode; actions?: ReactNode; children: ReactNode }) {
  return (
    <ScrollArea h="calc(100vh - 52px)" type="auto">
      <Stack p="lg" gap="md">
        <Group justify="space-between" align="flex-start">
          <div>
            <Title order={3}>{title}</Title>
            {description && <Text c="dimmed" size="sm">{description}</Text>}
          </div>
          <Group gap="xs">{actions}</Group>
        </Group>
        {children}
      </Stack>
    </ScrollArea>
  );
}
