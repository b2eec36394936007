import { fireEvent, screen, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { NodeState } from "@/lib/definition";
import { renderWithProviders } from "@/test/render";
import { PinPanel, parsePinnedItems } from "./PinPanel";

const api = vi.hoisted(() => ({
  pinOutput: vi.fn(async () => ({})),
  unpinOutput: vi.fn(async () => ({})),
  testStep: vi.fn(async () => ({ status: "succeeded", ports: { main: [{ doubled: 8 }] }, output: [{ doubled: 8 }], input: [{ n: 4 }], pinned: false })),
}));
vi.mock("../api", () => api);

const succeeded = (extra: Partial<NodeState>): NodeState => ({ status: "succeeded", attempts: 1, input: [{ n: 3 }], ...extra }) as NodeState;

function panel(props: Partial<Parameters<typeof PinPanel>[0]> = {}) {
  return renderWithProviders(<PinPanel workflowId="w1" nodeId="calc" ports={["main"]} pinned={undefined} state={undefined} readOnly={false} {...props} />);
}

describe("PinPanel", () => {
  beforeEach(() => vi.clearAllMocks());

  it("pins the last run's output", async () => {
    panel({ state: succeeded({ output: [{ doubled: 6 }] }) });
    fireEvent.click(screen.getByTestId("pin-output-main"));
    await waitFor(() => expect(api.pinOutput).toHaveBeenCalledWith("w1", "calc", "main", [{ doubled: 6 }]));
  });

  it("offers one pin per port a branching node emitted on", async () => {
    panel({ ports: ["true", "false"], state: succeeded({ ports: { true: [{ n: 30 }], false: [] } }) });
    expect(screen.getByTestId("pin-output-true")).toHaveTextContent("Pin output · true");
    fireEvent.click(screen.getByTestId("pin-output-false"));
    await waitFor(() => expect(api.pinOutput).toHaveBeenCalledWith("w1", "calc", "false", []));
  });

  it("tests the step on the last run's input and pins what it produced", async () => {
    panel({ state: succeeded({ input: [{ n: 4 }], output: [{ doubled: 6 }] }) });
    fireEvent.click(screen.getByTestId("test-step-button"));
    await waitFor(() => expect(api.testStep).toHaveBeenCalledWith("w1", "calc", [{ n: 4 }]));
    expect(await screen.findByTestId("step-output-main")).toHaveTextContent("8");
    fireEvent.click(screen.getByTestId("pin-step-main"));
    await waitFor(() => expect(api.pinOutput).toHaveBeenCalledWith("w1", "calc", "main", [{ doubled: 8 }]));
  });

  it("shows a pinned output and unpins it", async () => {
    panel({ pinned: { main: [{ label: "pinned" }] } });
    expect(screen.getByTestId("pin-state")).toHaveTextContent("pinned");
    expect(screen.getByTestId("pinned-output-main")).toHaveTextContent("(1 item)");
    fireEvent.click(screen.getByTestId("unpin-button"));
    await waitFor(() => expect(api.unpinOutput).toHaveBeenCalledWith("w1", "calc"));
  });

  it("refuses items that are not a JSON array of objects, with the reason, and pins valid ones", async () => {
    panel();
    const editor = screen.getByTestId("pin-json");
    for (const [text, reason] of [
      ["[{ not json", "not valid JSON"],
      ['{"n": 1}', "a pinned output is a JSON array of objects"],
      ['[{"n": 1}, 2]', "item 2 is not a JSON object"],
    ]) {
      fireEvent.change(editor, { target: { value: text } });
      fireEvent.click(screen.getByTestId("pin-json-button"));
      expect(await screen.findByTestId("pin-error")).toHaveTextContent(reason);
    }
    expect(api.pinOutput).not.toHaveBeenCalled();
    fireEvent.change(editor, { target: { value: '[{"n": 1}, {"n": 2}]' } });
    expect(screen.queryByTestId("pin-error")).toBeNull();
    fireEvent.click(screen.getByTestId("pin-json-button"));
    await waitFor(() => expect(api.pinOutput).toHaveBeenCalledWith("w1", "calc", "main", [{ n: 1 }, { n: 2 }]));
  });

  it("shows a pin but offers no pinning to someone who cannot edit", () => {
    panel({ readOnly: true, pinned: { main: [{ a: 1 }] }, state: succeeded({ output: [{ a: 2 }] }) });
    expect(screen.getByTestId("pinned-output-main")).toBeInTheDocument();
    expect(screen.queryByTestId("unpin-button")).toBeNull();
    expect(screen.queryByTestId("pin-output-main")).toBeNull();
    expect(screen.queryByTestId("pin-json")).toBeNull();
  });
});

describe("parsePinnedItems", () => {
  it("takes an empty array: a node that produced nothing", () => {
    expect(parsePinnedItems("[]")).toEqual([]);
  });
});
