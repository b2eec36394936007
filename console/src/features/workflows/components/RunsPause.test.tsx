import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { renderWithProviders } from "@/test/render";
import { RunsPause } from "./RunsPause";

const api = vi.hoisted(() => ({ fetchRunPauses: vi.fn(), setRunsPaused: vi.fn() }));
vi.mock("../api", () => api);

describe("RunsPause", () => {
  it("pauses a workflow's runs and shows the answer", async () => {
    api.fetchRunPauses.mockResolvedValue({ all: false, workflows: [] });
    api.setRunsPaused.mockResolvedValue({ all: false, workflows: ["w1"] });
    renderWithProviders(<RunsPause workflowId="w1" />);
    const toggle = await screen.findByRole("switch");
    await waitFor(() => expect(toggle).not.toBeDisabled());
    expect(toggle).not.toBeChecked();
    fireEvent.click(toggle);
    await waitFor(() => expect(api.setRunsPaused).toHaveBeenCalledWith("w1", true));
    await waitFor(() => expect(screen.getByRole("switch")).toBeChecked());
  });

  it("shows a pause of every workflow as paused, not to be lifted here", async () => {
    api.fetchRunPauses.mockResolvedValue({ all: true, workflows: [] });
    renderWithProviders(<RunsPause workflowId="w1" />);
    await waitFor(() => expect(screen.getByRole("switch")).toBeChecked());
    expect(screen.getByRole("switch")).toBeDisabled();
  });
});
