/**
 * Follows `GET /api/v1/executions/{id}/stream` (Server-Sent Events, one per log event) while a run is live.
 * The browser sends the session cookie with it; each event updates the cached log and refetches the
 * execution, so every view of the run moves without a reload.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import type { ExecutionEvent } from "./definition";
import { executionKeys } from "./queries";

const TERMINAL_EVENTS = new Set(["ExecutionSucceeded", "ExecutionFailed", "ExecutionCancelled"]);

export function useExecutionStream(executionId: string | undefined, live: boolean) {
  const queryClient = useQueryClient();
  useEffect(() => {
    if (!executionId || !live || typeof EventSource === "undefined") return;
    const source = new EventSource(`/api/v1/executions/${executionId}/stream`);
    const onMessage = (message: MessageEvent<string>) => {
      const event = JSON.parse(message.data) as ExecutionEvent;
      queryClient.setQueryData<{ items: ExecutionEvent[] }>(executionKeys.events(executionId), (old) => {
        const items = old?.items ?? [];
        return items.some((e) => e.seq === event.seq) ? old : { items: [...items, event].sort((a, b) => a.seq - b.seq) };
      });
      void queryClient.invalidateQueries({ queryKey: executionKeys.one(executionId), exact: true });
      if (TERMINAL_EVENTS.has(event.type)) {
        source.close();
        void queryClient.invalidateQueries({ queryKey: executionKeys.all });
      }
    };
    // the stream names each event after its type: listen to every type the log has
    const types = ["ExecutionStarted", "NodeScheduled", "NodeStarted", "NodeSucceeded", "NodeEvaluated", "NodeFailed", "NodeRetryScheduled", "NodesSkipped", "ExecutionPaused", "ExecutionResumed", "ExecutionForked", "NodeCopied", "NodeErrorCaught", "WorkflowCalled", "CallAwaited", "CallReceived", "LoopStarted", "LoopIterated", "LoopFinished", "ExecutionQueued", "ExecutionAdmitted", "ExecutionHeld", "ExecutionReleased", "BreakpointReached", "BreakpointReleased", "NodeInputEdited", ...TERMINAL_EVENTS];
    source.onmessage = onMessage;
    for (const type of types) source.addEventListener(type, onMessage as EventListener);
    return () => source.close();
  }, [executionId, live, queryClient]);
}
