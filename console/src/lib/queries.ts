/** Queries more than one feature reads: the node catalog, workflows and executions. */
import { useQuery } from "@tanstack/react-query";
import { client, unwrap } from "./api-client";
import type { Catalog, CatalogEntry, Execution, ExecutionSummary, Workflow } from "./definition";

export function useCatalog() {
  return useQuery({
    queryKey: ["catalog"],
    queryFn: async (): Promise<Catalog> => {
      const entries = (await unwrap(client.GET("/api/v1/nodes"))) as CatalogEntry[];
      return Object.fromEntries(entries.map((entry) => [entry.type, entry]));
    },
    staleTime: 5 * 60_000,
  });
}

export const workflowKeys = {
  all: ["workflows"] as const,
  one: (id: string, version?: number) => ["workflows", id, version ?? "latest"] as const,
  versions: (id: string) => ["workflows", id, "versions"] as const,
};

export function useWorkflow(id: string | undefined, version?: number) {
  return useQuery({
    queryKey: workflowKeys.one(id ?? "", version),
    enabled: !!id,
    queryFn: async (): Promise<Workflow> =>
      version
        ? unwrap(client.GET("/api/v1/workflows/{workflow_id}/versions/{version}", { params: { path: { workflow_id: id!, version } } }))
        : unwrap(client.GET("/api/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id! } } })),
  });
}

export const executionKeys = {
  all: ["executions"] as const,
  list: (filters: { workflow_id?: string; status?: string; limit?: number }) => ["executions", "list", filters] as const,
  one: (id: string) => ["executions", id] as const,
  events: (id: string) => ["executions", id, "events"] as const,
  state: (id: string, at: number) => ["executions", id, "state", at] as const,
};

export type ExecutionFilters = { workflow_id?: string; status?: ExecutionSummary["status"]; limit?: number };

export async function listExecutions(filters: ExecutionFilters, cursor?: string) {
  return unwrap(
    client.GET("/api/v1/executions", {
      params: { query: { workflow_id: filters.workflow_id, status: filters.status, limit: filters.limit ?? 50, cursor } },
    }),
  );
}

export function useExecutions(filters: ExecutionFilters, options: { refetchInterval?: number | false } = {}) {
  return useQuery({
    queryKey: executionKeys.list(filters),
    queryFn: () => listExecutions(filters),
    refetchInterval: options.refetchInterval,
  });
}

export function fetchExecution(id: string): Promise<Execution> {
  return unwrap(client.GET("/api/v1/executions/{execution_id}", { params: { path: { execution_id: id } } }));
}

export function fetchState(id: string, at: number): Promise<Execution> {
  return unwrap(client.GET("/api/v1/executions/{execution_id}/state", { params: { path: { execution_id: id }, query: { at } } }));
}

export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** An execution, refetched every second until it ends (the run inspector also follows the SSE stream). */
export function useExecution(id: string | undefined, options: { poll?: boolean } = {}) {
  return useQuery({
    queryKey: executionKeys.one(id ?? ""),
    enabled: !!id,
    queryFn: () => fetchExecution(id!),
    staleTime: 0,
    // every second while it runs; a finished run only gains forks (children), so now and then
    refetchInterval: (query) =>
      options.poll === false || !query.state.data ? false : TERMINAL.has(query.state.data.status) ? 5000 : 1000,
  });
}
