import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderWithProviders } from "@/test/render";
import { DiffView, type Diff } from "./RunDiff";

const diff: Diff = {
  a: { id: "a1" },
  b: { id: "b1" },
  same: false,
  status: null,
  output: { changes: [{ path: "/0/label", op: "changed", a: "big", b: "small" }], truncated: false },
  changed_nodes: ["calc", "big", "small", "hook"],
  nodes: {
    calc: { same: false, in: "both", input: { changes: [{ path: "/0/n", op: "changed", a: 30, b: 3 }], truncated: false }, output: { changes: [], truncated: true } },
    big: { same: false, in: "a", status: { a: "succeeded", b: null } },
    small: { same: false, in: "b", status: { a: null, b: "succeeded" } },
    hook: { same: false, in: "both", attempts: { a: 1, b: 0 } },
  },
  paths: { a: ["start", "calc", "big"], b: ["start", "calc", "small"], common: ["start", "calc"], diverged_at: "check", only_in_a: ["big"], only_in_b: ["small"] },
};

describe("DiffView", () => {
  it("says where the paths diverged and lists each changed node's differences with both values", () => {
    renderWithProviders(<DiffView diff={diff} />);
    expect(screen.getByTestId("diff-paths").textContent).toBe("The paths diverged at check. Only in A: big. Only in B: small.");
    const calc = screen.getByTestId("diff-node-calc").textContent ?? "";
    expect(calc).toContain("/0/n");
    expect(calc).toContain("30");
    expect(calc).toContain("more output changes than shown");
    expect(screen.getByTestId("diff-node-big").textContent).toContain("only in A");
    expect(screen.getByTestId("diff-output").textContent).toContain('"small"');
    // a node that differs in how it ran only: that difference, and no empty table
    expect(screen.getByTestId("diff-node-hook").textContent).toBe("hookattempts 1 → 0");
  });
  it("says so when two runs are the same", () => {
    renderWithProviders(<DiffView diff={{ ...diff, same: true }} />);
    expect(screen.getByTestId("diff-same")).toBeTruthy();
  });
});
