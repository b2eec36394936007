/** The workflow definition language (API.md) and the catalog entries that describe node types. */
import type { Schemas } from "./api-client";

export type RetryPolicy = {
  max_attempts?: number;
  backoff_seconds?: number;
  max_backoff_seconds?: number;
  retry_on?: string[];
};

export type OnError = "fail" | "continue" | "error_port";

export type NodeSpec = {
  id: string;
  type: string;
  params?: Record<string, unknown>;
  retry?: RetryPolicy;
  timeout_seconds?: number;
  on_error?: OnError;
};

export type EdgeSpec = { from: string; to: string; port?: string };

export type Position = { x: number; y: number };

export type Definition = {
  name: string;
  nodes: NodeSpec[];
  edges: EdgeSpec[];
  settings?: Record<string, unknown> & { console?: { positions?: Record<string, Position> } };
};

export type CatalogExample = Schemas["NodeExample"];

/** A `GET /api/v1/nodes` entry, with the executable examples of the node. */
export type CatalogEntry = Schemas["NodeCatalogEntry"];

export type Catalog = Record<string, CatalogEntry>;

export type Workflow = Schemas["Workflow"];
export type Execution = Schemas["Execution"];
export type NodeState = Schemas["NodeState"];
export type ExecutionEvent = Schemas["ExecutionEvent"];
export type ExecutionSummary = Schemas["ExecutionSummary"];
export type NodeStatus = NodeState["status"];
export type ExecutionStatus = Execution["status"];

export const MAIN = "main";

export function isTrigger(entry: CatalogEntry | undefined): boolean {
  return entry?.category === "trigger";
}

/** The definition a saved workflow holds (the API's `Workflow` carries it beside id and version). */
export function definitionOf(workflow: Workflow): Definition {
  return {
    name: workflow.name,
    nodes: workflow.nodes as unknown as NodeSpec[],
    edges: workflow.edges as unknown as EdgeSpec[],
    settings: (workflow.settings ?? {}) as Definition["settings"],
  };
}
