import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Execution } from "@/lib/definition";
import { renderWithProviders } from "@/test/render";
import { DebugControls } from "./DebugControls";

const api = vi.hoisted(() => ({ debugInput: vi.fn(async () => {}), debugStep: vi.fn(async () => {}), debugContinue: vi.fn(async () => {}) }));
vi.mock("../api", () => api);

function run(status: string, pausedAt: { node: string; reason: string; input?: Record<string, unknown>[] } | null): Execution {
  return {
    id: "e1",
    workflow_id: "w",
    workflow_version: 1,
    status,
    nodes: { start: { status: "succeeded", attempts: 1 }, send: { status: "pending", attempts: 0, input: [{ n: 4 }] } },
    output: [],
    events: 4,
    debug: { breakpoints: ["send"], conditions: {}, paused_at: pausedAt, stepping: false },
  } as unknown as Execution;
}

const act = (what: () => Promise<void>) => void what();

describe("DebugControls", () => {
  it("shows where a paused debug run stopped and steps it", async () => {
    renderWithProviders(<DebugControls run={run("paused", { node: "send", reason: "breakpoint" })} act={act} />);
    expect(screen.getByTestId("debug-paused")).toHaveTextContent("Paused before send (breakpoint)");
    expect(screen.getByTestId("debug-input")).toHaveValue(JSON.stringify([{ n: 4 }], null, 2));
    fireEvent.click(screen.getByTestId("debug-step"));
    await waitFor(() => expect(api.debugStep).toHaveBeenCalledWith("e1"));
    expect(api.debugInput).not.toHaveBeenCalled();
  });
  it("shows the input the engine recorded at the stop, before the node has one of its own", () => {
    renderWithProviders(<DebugControls run={run("paused", { node: "send", reason: "step", input: [{ n: 9 }] })} act={act} />);
    expect(screen.getByTestId("debug-input")).toHaveValue(JSON.stringify([{ n: 9 }], null, 2));
  });

  it("sends an edited input before it continues", async () => {
    renderWithProviders(<DebugControls run={run("paused", { node: "send", reason: "step" })} act={act} />);
    fireEvent.change(screen.getByTestId("debug-input"), { target: { value: '[{"n": 100}]' } });
    fireEvent.click(screen.getByTestId("debug-continue"));
    await waitFor(() => expect(api.debugContinue).toHaveBeenCalledWith("e1"));
    expect(api.debugInput).toHaveBeenCalledWith("e1", [{ n: 100 }]);
  });

  it("shows nothing for a run that is not paused at a breakpoint", () => {
    renderWithProviders(<DebugControls run={run("running", null)} act={act} />);
    expect(screen.queryByTestId("debug-paused")).toBeNull();
  });
});
