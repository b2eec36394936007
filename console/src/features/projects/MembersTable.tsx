/** A project's members and their roles; its admins may take someone out. */
import { ActionIcon, Badge, Table, Text } from "@mantine/core";
import { IconUserMinus } from "@tabler/icons-react";
import type { Schemas } from "@/lib/api-client";

export type Member = Schemas["ProjectMemberView"];

export function MembersTable(props: { members: Member[]; canManage: boolean; onRemove: (m: Member) => void }) {
  return (
    <Table verticalSpacing="xs" data-testid="members-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Member</Table.Th>
          <Table.Th>Role</Table.Th>
          <Table.Th w={60} />
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {props.members.map((member) => (
          <Table.Tr key={member.user_id} data-testid={`member-${member.email}`}>
            <Table.Td><Text size="sm">{member.email}</Text></Table.Td>
            <Table.Td><Badge variant="light">{member.role}</Badge></Table.Td>
            <Table.Td>
              {props.canManage && (
                <ActionIcon variant="subtle" color="red" aria-label={`remove ${member.email}`} onClick={() => props.onRemove(member)}>
                  <IconUserMinus size={16} />
                </ActionIcon>
              )}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
