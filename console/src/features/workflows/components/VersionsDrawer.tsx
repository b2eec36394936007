import { Badge, Button, Drawer, Group, Stack, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router-dom";
import { when } from "@/components/time";
import { client, unwrap } from "@/lib/api-client";
import { definitionOf } from "@/lib/definition";
import { workflowKeys } from "@/lib/queries";
import { saveWorkflow, useVersions } from "../api";

/** Every saved version: view one on the canvas, or restore it (saved again as the newest version). */
export function VersionsDrawer(props: { workflowId: string; opened: boolean; onClose: () => void; viewing?: number; latest?: number; canRestore: boolean }) {
  const versions = useVersions(props.opened ? props.workflowId : undefined);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const restore = async (version: number) => {
    const old = await unwrap(
      client.GET("/api/v1/workflows/{workflow_id}/versions/{version}", { params: { path: { workflow_id: props.workflowId, version } } }),
    );
    const saved = await saveWorkflow(props.workflowId, definitionOf(old));
    notifications.show({ color: "green", message: `Version ${version} restored as version ${saved.version}` });
    await queryClient.invalidateQueries({ queryKey: workflowKeys.all });
    props.onClose();
    navigate(`/workflows/${props.workflowId}`);
  };
  const items = [...(versions.data?.items ?? [])].sort((a, b) => b.version - a.version);
  return (
    <Drawer opened={props.opened} onClose={props.onClose} position="right" title="Version history" size={400}>
      <Stack gap="xs" data-testid="versions">
        {items.map((item) => (
          <Group key={item.version} justify="space-between" p={6} style={{ border: "1px solid var(--mantine-color-gray-3)", borderRadius: 6 }}>
            <div>
              <Group gap={6}>
                <Text fw={600}>v{item.version}</Text>
                {item.version === props.latest && <Badge size="xs">latest</Badge>}
                {item.version === props.viewing && <Badge size="xs" color="orange">on the canvas</Badge>}
              </Group>
              <Text size="xs" c="dimmed">
                {item.name} · {when(item.saved_at)}
              </Text>
            </div>
            <Group gap={4}>
              <Button
                size="xs"
                variant="default"
                onClick={() => {
                  props.onClose();
                  navigate(item.version === props.latest ? `/workflows/${props.workflowId}` : `/workflows/${props.workflowId}?version=${item.version}`);
                }}
              >
                View
              </Button>
              {props.canRestore && item.version !== props.latest && (
                <Button size="xs" variant="light" onClick={() => restore(item.version)} data-testid={`restore-${item.version}`}>
                  Restore
                </Button>
              )}
            </Group>
          </Group>
        ))}
      </Stack>
    </Drawer>
  );
}
