/** The variables of the platform (or of one workflow) as a table: a secret one shows a badge, never a value. */
import { ActionIcon, Badge, Group, Table, Text } from "@mantine/core";
import { IconEdit, IconTrash } from "@tabler/icons-react";
import { ago } from "@/components/time";
import type { Schemas } from "@/lib/api-client";

export type Variable = Schemas["VariableView"];

export function VariablesTable(props: { variables: Variable[]; canEdit: boolean; onEdit: (v: Variable) => void; onDelete: (v: Variable) => void }) {
  return (
    <Table verticalSpacing="xs" data-testid="variables-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Name</Table.Th>
          <Table.Th>Value</Table.Th>
          <Table.Th>Updated</Table.Th>
          <Table.Th w={80} />
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {props.variables.map((variable) => (
          <Table.Tr key={variable.name} data-testid={`variable-${variable.name}`}>
            <Table.Td fw={500} ff="monospace">vars.{variable.name}</Table.Td>
            <Table.Td>{variable.secret ? <Badge color="grape" variant="light">secret</Badge> : <Text size="sm" ff="monospace">{variable.value}</Text>}</Table.Td>
            <Table.Td><Text size="sm" c="dimmed">{ago(variable.updated_at)}</Text></Table.Td>
            <Table.Td>
              {props.canEdit && (
                <Group gap={4}>
                  <ActionIcon variant="subtle" aria-label={`edit ${variable.name}`} onClick={() => props.onEdit(variable)}><IconEdit size={16} /></ActionIcon>
                  <ActionIcon variant="subtle" color="red" aria-label={`delete ${variable.name}`} onClick={() => props.onDelete(variable)}><IconTrash size={16} /></ActionIcon>
                </Group>
              )}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
