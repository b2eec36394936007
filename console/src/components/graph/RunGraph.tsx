/**
 * A read-only canvas of a workflow version with a run's state on it (node colours, item counts on edges, and a pin
 * on the nodes of a test run whose output came from their pin).
 */
import { Background, Controls, ReactFlow, ReactFlowProvider } from "@xyflow/react";
import { useMemo } from "react";
import { type Catalog, type Definition, type Execution } from "@/lib/definition";
import { definitionToGraph, withExecution, type FlowEdge, type FlowNode } from "@/lib/graph";
import { nodeTypes } from "./nodes";

export function RunGraph(props: { definition: Definition; catalog: Catalog; execution: Execution | undefined; pinned?: string[]; selected?: string | null; onSelect?: (id: string | null) => void }) {
  const graph = useMemo(() => definitionToGraph(props.definition, props.catalog), [props.definition, props.catalog]);
  const shown = useMemo(() => {
    const overlaid = withExecution(graph.nodes, graph.edges, props.execution);
    return {
      nodes: overlaid.nodes.map((node) => ({
        ...node,
        selected: node.id === props.selected,
        data: props.pinned?.includes(node.id) ? { ...node.data, pinned: "run" as const } : node.data,
      })),
      edges: overlaid.edges.map((edge) => {
        const count = edge.data?.count;
        const label = count === undefined ? edge.label : `${count} item${count === 1 ? "" : "s"}`;
        return { ...edge, label, animated: props.execution?.nodes[edge.source]?.status === "running" };
      }),
    };
  }, [graph, props.execution, props.pinned, props.selected]);
  return (
    <ReactFlowProvider>
      <ReactFlow<FlowNode, FlowEdge>
        nodes={shown.nodes}
        edges={shown.edges}
        nodeTypes={nodeTypes}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable
        onNodeClick={(_, node) => props.onSelect?.(node.id)}
        onPaneClick={() => props.onSelect?.(null)}
        defaultEdgeOptions={{ type: "smoothstep" }}
        fitView
        fitViewOptions={{ maxZoom: 1.1, padding: 0.15 }}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={16} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </ReactFlowProvider>
  );
}
