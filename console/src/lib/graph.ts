/**
 * The one conversion between a workflow definition and the canvas graph (@xyflow/react nodes and edges).
 *
 * The definition is the source of truth: the graph is derived from it, and every change on the canvas is
 * written back with {@link graphToDefinition}. Node positions travel in `settings.console.positions`, so a
 * layout survives a save; a definition without them (made through the API) is laid out automatically.
 * Output ports come from the catalog entry's `ports`; an entry whose ports are `"*"` (switch) takes them from
 * its params, and a node with `on_error: "error_port"` gains an `error` port.
 */
import dagre from "@dagrejs/dagre";
import type { Edge, Node } from "@xyflow/react";
import {
  MAIN,
  isTrigger,
  type Catalog,
  type CatalogEntry,
  type Definition,
  type EdgeSpec,
  type Execution,
  type NodeSpec,
  type NodeStatus,
  type Position,
} from "./definition";

export type NodeKind = "trigger" | "branch" | "action";

export type FlowNodeData = {
  spec: NodeSpec;
  entry?: CatalogEntry;
  ports: string[];
  hasInput: boolean;
  status?: NodeStatus;
  attempts?: number;
  problems?: string[];
  /** its output is pinned in the draft (the editor), or came from its pin in this run (the run inspector) */
  pinned?: "draft" | "run";
  [key: string]: unknown;
};

export type FlowEdgeData = { port: string; count?: number; problems?: string[]; [key: string]: unknown };

export type FlowNode = Node<FlowNodeData, NodeKind>;
export type FlowEdge = Edge<FlowEdgeData>;

export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 64;

/** The output ports of a node, in order. */
export function outputPorts(spec: NodeSpec, entry: CatalogEntry | undefined): string[] {
  const declared = entry?.ports ?? [MAIN];
  const ports = declared.filter((port) => port !== "*");
  if (declared.includes("*")) {
    for (const port of portsFromParams(spec.params ?? {})) if (!ports.includes(port)) ports.push(port);
  }
  if (spec.on_error === "error_port" && !ports.includes("error")) ports.push("error");
  if (ports.length === 0 && !declared.includes("*")) ports.push(MAIN);
  return ports;
}

/** Ports named by params: each rule's `port` (switch's `rules`) and a `fallback` port. */
function portsFromParams(params: Record<string, unknown>): string[] {
  const ports: string[] = [];
  for (const value of Object.values(params)) {
    if (!Array.isArray(value)) continue;
    for (const rule of value) {
      const port = (rule as { port?: unknown } | null)?.port;
      if (typeof port === "string" && port && !ports.includes(port)) ports.push(port);
    }
  }
  if (typeof params.fallback === "string" && params.fallback && !ports.includes(params.fallback)) {
    ports.push(params.fallback);
  }
  return ports;
}

export function kindOf(entry: CatalogEntry | undefined, ports: string[]): NodeKind {
  if (isTrigger(entry)) return "trigger";
  return ports.length > 1 || (entry?.ports ?? []).includes("*") ? "branch" : "action";
}

export function edgeId(edge: EdgeSpec): string {
  return `${edge.from}:${edge.port ?? MAIN}->${edge.to}`;
}

export function toFlowNode(spec: NodeSpec, catalog: Catalog, position: Position): FlowNode {
  const entry = catalog[spec.type];
  const ports = outputPorts(spec, entry);
  return {
    id: spec.id,
    type: kindOf(entry, ports),
    position,
    data: { spec, entry, ports, hasInput: !isTrigger(entry) },
  };
}

export function toFlowEdge(edge: EdgeSpec): FlowEdge {
  const port = edge.port ?? MAIN;
  return {
    id: edgeId(edge),
    source: edge.from,
    target: edge.to,
    sourceHandle: port,
    targetHandle: "in",
    data: { port },
  };
}

/** Positions for nodes the definition does not place: left to right, in the order data flows. */
export function layout(definition: Definition): Record<string, Position> {
  const saved = definition.settings?.console?.positions ?? {};
  const missing = definition.nodes.filter((node) => !saved[node.id]);
  if (missing.length === 0) return { ...saved };
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 80 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of definition.nodes) graph.setNode(node.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const edge of definition.edges) {
    if (graph.hasNode(edge.from) && graph.hasNode(edge.to)) graph.setEdge(edge.from, edge.to);
  }
  dagre.layout(graph);
  const positions: Record<string, Position> = { ...saved };
  for (const node of missing) {
    const placed = graph.node(node.id);
    positions[node.id] = { x: Math.round(placed.x - NODE_WIDTH / 2), y: Math.round(placed.y - NODE_HEIGHT / 2) };
  }
  return positions;
}

export function definitionToGraph(definition: Definition, catalog: Catalog): { nodes: FlowNode[]; edges: FlowEdge[] } {
  const positions = layout(definition);
  return {
    nodes: definition.nodes.map((spec) => toFlowNode(spec, catalog, positions[spec.id] ?? { x: 0, y: 0 })),
    edges: definition.edges.map(toFlowEdge),
  };
}

/** The definition the canvas shows; `base` gives the name and the settings other than positions. */
export function graphToDefinition(nodes: FlowNode[], edges: FlowEdge[], base: Pick<Definition, "name" | "settings">): Definition {
  const positions: Record<string, Position> = {};
  for (const node of nodes) positions[node.id] = { x: Math.round(node.position.x), y: Math.round(node.position.y) };
  const settings = { ...(base.settings ?? {}), console: { ...(base.settings?.console ?? {}), positions } };
  return {
    name: base.name,
    nodes: nodes.map((node) => cleanSpec({ ...node.data.spec, id: node.id })),
    edges: edges.map((edge) => {
      const port = edge.sourceHandle ?? edge.data?.port ?? MAIN;
      return port === MAIN ? { from: edge.source, to: edge.target } : { from: edge.source, port, to: edge.target };
    }),
    settings,
  };
}

/** A node spec without empty optional settings (the API refuses unknown keys, and `null` is noise). */
export function cleanSpec(spec: NodeSpec): NodeSpec {
  const clean: NodeSpec = { id: spec.id, type: spec.type, params: spec.params ?? {} };
  if (spec.retry && Object.keys(spec.retry).length > 0) clean.retry = spec.retry;
  if (typeof spec.timeout_seconds === "number" && spec.timeout_seconds > 0) clean.timeout_seconds = spec.timeout_seconds;
  if (spec.on_error && spec.on_error !== "fail") clean.on_error = spec.on_error;
  return clean;
}

/** A node id not used yet, derived from the node type (`set`, `set_2`, ...). */
export function uniqueId(type: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const base = type.replace(/[^A-Za-z0-9_.-]/g, "_");
  if (!used.has(base)) return base;
  for (let n = 2; ; n++) if (!used.has(`${base}_${n}`)) return `${base}_${n}`;
}

export type Problems = { nodes: Record<string, string[]>; edges: Record<string, string[]>; general: string[] };

/** Where the problems of a 422 `invalid_workflow` belong: `{"node": id}` or `{"edge": index}` of `definition`. */
export function problemsOf(details: unknown, definition: Definition): Problems {
  const problems: Problems = { nodes: {}, edges: {}, general: [] };
  if (!Array.isArray(details)) return problems;
  for (const detail of details as { node?: string; edge?: number; message?: string }[]) {
    const message = detail.message ?? "invalid";
    if (typeof detail.node === "string") (problems.nodes[detail.node] ??= []).push(message);
    else if (typeof detail.edge === "number" && definition.edges[detail.edge]) {
      (problems.edges[edgeId(definition.edges[detail.edge])] ??= []).push(message);
    } else problems.general.push(message);
  }
  return problems;
}

/** The graph with an execution's state on it: node statuses and the item count each edge carried. */
export function withExecution(nodes: FlowNode[], edges: FlowEdge[], execution: Execution | undefined) {
  if (!execution) return { nodes, edges };
  const states = execution.nodes;
  return {
    nodes: nodes.map((node) => {
      const state = states[node.id];
      return { ...node, data: { ...node.data, status: state?.status ?? "pending", attempts: state?.attempts } };
    }),
    edges: edges.map((edge) => {
      const state = states[edge.source];
      const port = edge.data?.port ?? edge.sourceHandle ?? MAIN;
      let count: number | undefined;
      if (state?.status === "succeeded") {
        if (state.ports) count = state.ports[port]?.length ?? 0;
        else if (state.port === port || (!state.port && port === MAIN)) count = state.output?.length ?? 0;
      }
      return { ...edge, data: { port, ...edge.data, count } };
    }),
  };
}
