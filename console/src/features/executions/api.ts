import { useQuery } from "@tanstack/react-query";
import { client, unwrap } from "@/lib/api-client";
import type { ExecutionEvent } from "@/lib/definition";
import { executionKeys } from "@/lib/queries";

export function useEvents(executionId: string, knownEvents: number | undefined) {
  return useQuery({
    queryKey: executionKeys.events(executionId),
    queryFn: async (): Promise<{ items: ExecutionEvent[] }> =>
      unwrap(client.GET("/api/v1/executions/{execution_id}/events", { params: { path: { execution_id: executionId } } })),
    // the stream appends events; a refetch catches up whenever the execution reports more than we hold
    refetchInterval: (query) => (knownEvents !== undefined && (query.state.data?.items.length ?? 0) < knownEvents ? 500 : false),
  });
}

export async function replay(executionId: string, fromNode: string, workflowVersion: "original" | "latest" | number, input?: Record<string, unknown>[]) {
  const started = await unwrap(
    client.POST("/api/v1/executions/{execution_id}/replay", {
      params: { path: { execution_id: executionId } },
      body: { from_node: fromNode, workflow_version: workflowVersion, input },
    }),
  );
  return started.execution_id;
}

export async function retry(executionId: string) {
  return (await unwrap(client.POST("/api/v1/executions/{execution_id}/retry", { params: { path: { execution_id: executionId } } }))).execution_id;
}

export async function cancel(executionId: string) {
  await unwrap(client.POST("/api/v1/executions/{execution_id}/cancel", { params: { path: { execution_id: executionId } }, body: { reason: "cancelled from the console" } }));
}

/** A debug run paused at a breakpoint: replace the paused node's input, run it and stop again, or run on. */
export async function debugInput(executionId: string, input: Record<string, unknown>[]) {
  await unwrap(client.POST("/api/v1/executions/{execution_id}/debug/input", { params: { path: { execution_id: executionId } }, body: { input } }));
}

export async function debugStep(executionId: string) {
  await unwrap(client.POST("/api/v1/executions/{execution_id}/debug/step", { params: { path: { execution_id: executionId } } }));
}

export async function debugContinue(executionId: string) {
  await unwrap(client.POST("/api/v1/executions/{execution_id}/debug/continue", { params: { path: { execution_id: executionId } } }));
}
