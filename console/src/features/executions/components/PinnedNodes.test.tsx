import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { ExecutionEvent } from "@/lib/definition";
import { renderWithProviders } from "@/test/render";
import { PinnedNotRun, TestRunBadge, pinnedNodes } from "./PinnedNodes";

const started = (meta: Record<string, unknown>): ExecutionEvent => ({ seq: 1, type: "ExecutionStarted", at: "2026-01-01T00:00:00Z", data: { trigger_meta: meta } });

describe("pinnedNodes", () => {
  it("reads the nodes a test run took from their pins from its first event", () => {
    const events = [started({ test: true, pinned: ["calc"] }), { seq: 2, type: "NodeCopied", at: "", data: { node_id: "calc" } }];
    expect(pinnedNodes(events)).toEqual(["calc"]);
  });

  it("finds none in a plain run, or before the log has loaded", () => {
    expect(pinnedNodes([started({ variables: {} })])).toEqual([]);
    expect(pinnedNodes([])).toEqual([]);
  });
});

describe("the test run marks", () => {
  it("badge a test run and say a pinned node was not run", () => {
    renderWithProviders(
      <>
        <TestRunBadge />
        <PinnedNotRun node="calc" />
      </>,
    );
    expect(screen.getByTestId("test-run-badge")).toHaveTextContent("test run");
    expect(screen.getByTestId("node-pinned")).toHaveTextContent("calc: pinned output, not run");
  });
});
