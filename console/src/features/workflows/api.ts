import { useQuery } from "@tanstack/react-query";
import { client, unwrap, type Schemas } from "@/lib/api-client";
import type { Definition, Workflow } from "@/lib/definition";
import { workflowKeys } from "@/lib/queries";

export function useWorkflows() {
  return useQuery({
    queryKey: workflowKeys.all,
    queryFn: async () => {
      // every page: the list is searched and filtered here
      const items: Awaited<ReturnType<typeof listPage>>["items"] = [];
      let cursor: string | undefined;
      do {
        const page = await listPage(cursor);
        items.push(...page.items);
        cursor = page.next_cursor ?? undefined;
      } while (cursor && items.length < 5000);
      return items;
    },
  });
}

function listPage(cursor?: string) {
  return unwrap(client.GET("/api/v1/workflows", { params: { query: { limit: 500, cursor } } }));
}

export function useVersions(id: string | undefined) {
  return useQuery({
    queryKey: workflowKeys.versions(id ?? ""),
    enabled: !!id,
    queryFn: () => unwrap(client.GET("/api/v1/workflows/{workflow_id}/versions", { params: { path: { workflow_id: id! } } })),
  });
}

type Body = Schemas["NewWorkflow"];

/** In ``projectId``, or the caller's default project when it is left out. */
export function createWorkflow(definition: Definition, projectId?: string | null): Promise<Workflow> {
  const body = { ...definition, ...(projectId ? { project_id: projectId } : {}) };
  return unwrap(client.POST("/api/v1/workflows", { body: body as unknown as Body }));
}

export function saveWorkflow(id: string, definition: Definition): Promise<Workflow> {
  return unwrap(client.PUT("/api/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id } }, body: definition as unknown as Body }));
}

export function deleteWorkflow(id: string) {
  return unwrap(client.DELETE("/api/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id } } }));
}

export function setActive(id: string, active: boolean) {
  const path = { params: { path: { workflow_id: id } } };
  return unwrap(active ? client.POST("/api/v1/workflows/{workflow_id}/activate", path) : client.POST("/api/v1/workflows/{workflow_id}/deactivate", path));
}

/**
 * A run from the editor. A test run (`test`) takes the outputs pinned in the draft in place of running those nodes;
 * a plain run, like a triggered one, never does.
 */
/** ``breakpoints``: a debug run, paused before each of these nodes (see the run inspector's debug controls). */
export async function runWorkflow(id: string, input: Record<string, unknown>[], options: { version?: number; test?: boolean; breakpoints?: string[] } = {}): Promise<string> {
  const debug = options.breakpoints?.length ? { breakpoints: options.breakpoints } : undefined;
  const accepted = await unwrap(
    client.POST("/api/v1/workflows/{workflow_id}/run", {
      params: { path: { workflow_id: id } },
      body: { input, version: options.version, test: options.test ?? false, debug },
    }),
  );
  return (accepted as { execution_id: string }).execution_id;
}

/** Outputs pinned in the draft, by node and port (no part of any version). */
export type Pins = NonNullable<Workflow["pinned"]>;

/** Pin `items` as what `nodeId` produces on `port` (replacing its earlier pin); answers the workflow. */
export function pinOutput(workflowId: string, nodeId: string, port: string, items: Record<string, unknown>[]): Promise<Workflow> {
  return unwrap(client.PUT("/api/v1/workflows/{workflow_id}/pins/{node_id}", { params: { path: { workflow_id: workflowId, node_id: nodeId } }, body: { items, port } }));
}

export type StepTestResult = Schemas["StepTestResult"];

/** Test a step: run one node now on `items` (no execution is started), really running it even when it is pinned. */
export function testStep(workflowId: string, nodeId: string, items: Record<string, unknown>[]): Promise<StepTestResult> {
  return unwrap(
    client.POST("/api/v1/workflows/{workflow_id}/nodes/{node_id}/test", {
      params: { path: { workflow_id: workflowId, node_id: nodeId } },
      body: { items, ignore_pin: true },
    }),
  );
}

export function unpinOutput(workflowId: string, nodeId: string): Promise<Workflow> {
  return unwrap(client.DELETE("/api/v1/workflows/{workflow_id}/pins/{node_id}", { params: { path: { workflow_id: workflowId, node_id: nodeId } } }));
}

/** A workflow as a file: its definition (what POST /workflows takes), named after it. */
export function exportWorkflow(definition: Definition) {
  const blob = new Blob([JSON.stringify(definition, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = `${definition.name.replace(/[^A-Za-z0-9_.-]+/g, "-") || "workflow"}.json`;
  link.click();
  URL.revokeObjectURL(url);
}

/** The definition in an imported file (an exported workflow, or the JSON given to the API). */
export function parseDefinition(text: string): Definition {
  const value = JSON.parse(text) as Partial<Workflow & Definition>;
  if (!value || !Array.isArray(value.nodes)) throw new Error("not a workflow definition: it has no list of nodes");
  return { name: value.name ?? "imported", nodes: value.nodes as Definition["nodes"], edges: (value.edges ?? []) as Definition["edges"], settings: (value.settings ?? {}) as Definition["settings"] };
}

/** The pause of runs (the kill switch): every workflow's (`all`) and single workflows'. */
export function fetchRunPauses() {
  return unwrap(client.GET("/api/v1/admin/pause"));
}

export async function setRunsPaused(workflowId: string, paused: boolean) {
  const params = { params: { path: { workflow_id: workflowId } } };
  return unwrap(paused ? client.POST("/api/v1/workflows/{workflow_id}/pause", params) : client.POST("/api/v1/workflows/{workflow_id}/resume", params));
}
