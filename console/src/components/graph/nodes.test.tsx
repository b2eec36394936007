import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderWithProviders } from "@/test/render";
import { PinBadge } from "./nodes";

describe("PinBadge", () => {
  it("marks a node whose output is pinned in the draft, with an accessible label", () => {
    renderWithProviders(<PinBadge nodeId="calc" pinned="draft" />);
    const badge = screen.getByRole("img", { name: /output pinned/ });
    expect(badge).toHaveAttribute("data-testid", "pinned-calc");
  });

  it("says, in a run, that the node's output came from its pin and it did not run", () => {
    renderWithProviders(<PinBadge nodeId="calc" pinned="run" />);
    expect(screen.getByTestId("pinned-calc")).toHaveAccessibleName("pinned output, not run");
  });
});
