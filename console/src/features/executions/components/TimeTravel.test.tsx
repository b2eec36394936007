import { fireEvent, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import type { Execution, ExecutionEvent } from "@/lib/definition";
import { renderWithProviders } from "@/test/render";
import { TimeTravel } from "./TimeTravel";

function state(statuses: Record<string, string>, events: number): Execution {
  const nodes = Object.fromEntries(Object.entries(statuses).map(([id, status]) => [id, { status, attempts: status === "pending" ? 0 : 1 }]));
  return { id: "e1", workflow_id: "w", workflow_version: 1, status: "running", nodes, output: [], events } as unknown as Execution;
}

// the log of the branching workflow, and the states the API answers for ?at=
const types = ["ExecutionStarted", "NodeScheduled", "NodeSucceeded", "NodeScheduled", "NodeSucceeded", "NodeScheduled", "NodeSucceeded", "NodesSkipped", "NodeScheduled", "NodeSucceeded", "ExecutionSucceeded"];
const nodeOf = [undefined, "hook", "hook", "calc", "calc", "check", "check", undefined, "big", "big", undefined];
const events: ExecutionEvent[] = types.map((type, i) => ({ seq: i + 1, type, at: "2026-12-01T00:00:00Z", data: nodeOf[i] ? { node_id: nodeOf[i] } : {} }));
const pending = { hook: "pending", calc: "pending", check: "pending", big: "pending", small: "pending" };
const latest = { ...state({ hook: "succeeded", calc: "succeeded", check: "succeeded", big: "succeeded", small: "skipped" }, 11), status: "succeeded" } as Execution;

const fetchState = vi.hoisted(() => vi.fn());
vi.mock("@/lib/queries", async (original) => ({ ...(await original<typeof import("@/lib/queries")>()), fetchState }));
fetchState.mockImplementation(async (_id: string, at: number) => {
  if (at >= 5) return state({ ...pending, hook: "succeeded", calc: "succeeded" }, at);
  if (at >= 3) return state({ ...pending, hook: "succeeded" }, at);
  return state(pending, at);
});

function Harness({ initial = null }: { initial?: number | null }) {
  const [at, setAt] = useState<number | null>(initial);
  return <TimeTravel executionId="e1" events={events} at={at} onAtChange={setAt} latest={latest} />;
}

describe("TimeTravel", () => {
  it("shows the latest state at the last event", () => {
    renderWithProviders(<Harness />);
    expect(screen.getByTestId("time-travel-position")).toHaveTextContent("after event 11 of 11 · ExecutionSucceeded · latest");
    expect(screen.getByTestId("finished-count")).toHaveTextContent("5 of 5 nodes finished");
    expect(fetchState).not.toHaveBeenCalled();
  });

  it("shows the run as it stood after an earlier event when the slider moves back", async () => {
    renderWithProviders(<Harness />);
    const thumb = screen.getByRole("slider");
    for (let i = 0; i < 6; i++) fireEvent.keyDown(thumb, { key: "ArrowLeft" });
    await waitFor(() => expect(screen.getByTestId("time-travel-position")).toHaveTextContent("after event 5 of 11 · NodeSucceeded (calc)"));
    await waitFor(() => expect(screen.getByTestId("finished-count")).toHaveTextContent("2 of 5 nodes finished"));
    expect(fetchState).toHaveBeenLastCalledWith("e1", 5);
    expect(screen.getByTestId("tt-node-check")).toHaveAttribute("data-status", "pending");
  });

  it("opens at the event a link names", async () => {
    renderWithProviders(<Harness initial={3} />);
    await waitFor(() => expect(screen.getByTestId("finished-count")).toHaveTextContent("1 of 5 nodes finished"));
    expect(screen.getByTestId("time-travel-position")).toHaveTextContent("after event 3 of 11 · NodeSucceeded (hook)");
  });
});
