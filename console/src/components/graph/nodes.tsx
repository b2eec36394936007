/** One node component per node kind; every handle is named after its port (the target handle is `in`). */
import { Badge, Group, Text, Tooltip } from "@mantine/core";
import { IconPin } from "@tabler/icons-react";
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import type { FlowNode } from "@/lib/graph";
import { MAIN } from "@/lib/definition";
import { STATUS_COLORS } from "@/components/status";
import classes from "./nodes.module.css";

const CATEGORY_COLORS: Record<string, string> = {
  trigger: "violet",
  core: "blue",
  flow: "orange",
  network: "teal",
  code: "grape",
};

function Shell({ data, selected, kind, children }: NodeProps<FlowNode> & { kind: string; children?: React.ReactNode }) {
  const { spec, entry, status, problems, attempts, pinned } = data;
  const color = CATEGORY_COLORS[entry?.category ?? ""] ?? "gray";
  const invalid = (problems?.length ?? 0) > 0;
  return (
    <div
      className={classes.node}
      data-kind={kind}
      data-status={status ?? "none"}
      data-selected={selected || undefined}
      data-invalid={invalid || undefined}
      data-testid={`node-${spec.id}`}
      style={{ borderLeftColor: `var(--mantine-color-${color}-6)` }}
    >
      {data.hasInput && <Handle type="target" position={Position.Left} id="in" className={classes.handle} />}
      <Group justify="space-between" gap={4} wrap="nowrap">
        <Text fw={600} size="sm" truncate="end" className={classes.title}>
          {spec.id}
        </Text>
        {pinned && <PinBadge nodeId={spec.id} pinned={pinned} />}
        {status && status !== "pending" && (
          <Badge size="xs" color={STATUS_COLORS[status] ?? "gray"} variant="filled" data-testid={`status-${spec.id}`}>
            {status}
            {attempts && attempts > 1 ? ` ×${attempts}` : ""}
          </Badge>
        )}
      </Group>
      <Text size="xs" c="dimmed" truncate="end">
        {spec.type}
        {entry ? "" : " (unknown type)"}
      </Text>
      {invalid && (
        <Tooltip label={problems!.join("\n")} multiline w={280} withArrow>
          <Text size="xs" c="red" truncate="end" data-testid={`problem-${spec.id}`}>
            {problems![0]}
          </Text>
        </Tooltip>
      )}
      {children}
    </div>
  );
}

/** A node whose output is pinned (the editor), or whose output in a run came from its pin (the run inspector). */
export function PinBadge({ nodeId, pinned }: { nodeId: string; pinned: "draft" | "run" }) {
  const label = pinned === "run" ? "pinned output, not run" : "output pinned: test runs use it instead of running the node";
  return (
    <Tooltip label={label} withArrow>
      <Badge size="xs" color="grape" variant="filled" px={4} role="img" aria-label={label} data-testid={`pinned-${nodeId}`} style={{ flexShrink: 0 }}>
        <IconPin size={11} stroke={2.5} style={{ display: "block" }} />
      </Badge>
    </Tooltip>
  );
}

function Outputs({ ports }: { ports: string[] }) {
  const labelled = ports.length > 1 || (ports.length === 1 && ports[0] !== MAIN);
  return (
    <>
      {ports.map((port, index) => {
        const top = `${((index + 1) / (ports.length + 1)) * 100}%`;
        return (
          <Handle
            key={port}
            type="source"
            position={Position.Right}
            id={port}
            style={{ top }}
            className={classes.handle}
            data-port={port}
          >
            {labelled && <span className={classes.portLabel}>{port}</span>}
          </Handle>
        );
      })}
    </>
  );
}

export const TriggerNode = memo(function TriggerNode(props: NodeProps<FlowNode>) {
  return (
    <Shell {...props} kind="trigger">
      <Outputs ports={props.data.ports} />
    </Shell>
  );
});

export const ActionNode = memo(function ActionNode(props: NodeProps<FlowNode>) {
  return (
    <Shell {...props} kind="action">
      <Outputs ports={props.data.ports} />
    </Shell>
  );
});

/** `if`, `switch`, `loop`, or any node with several output ports: one labelled handle per port. */
export const BranchNode = memo(function BranchNode(props: NodeProps<FlowNode>) {
  const height = Math.max(64, 22 * (props.data.ports.length + 1));
  return (
    <Shell {...props} kind="branch">
      <div style={{ height: height - 52 }} />
      <Outputs ports={props.data.ports} />
    </Shell>
  );
});

export const nodeTypes = { trigger: TriggerNode, action: ActionNode, branch: BranchNode };
