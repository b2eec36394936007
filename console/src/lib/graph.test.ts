import { describe, expect, it } from "vitest";
import type { Catalog, CatalogEntry, Definition } from "./definition";
import { definitionToGraph, graphToDefinition, outputPorts, problemsOf, uniqueId, withExecution } from "./graph";

function entry(type: string, category: string, ports: string[]): CatalogEntry {
  return {
    type,
    version: 1,
    category,
    description: type,
    params_schema: { type: "object", properties: {} },
    ports,
    pure: true,
    deterministic: true,
    trigger: category === "trigger",
  };
}

const catalog: Catalog = {
  webhook: entry("webhook", "trigger", ["main"]),
  set: entry("set", "core", ["main"]),
  if: entry("if", "flow", ["true", "false"]),
  switch: entry("switch", "flow", ["*"]),
  loop: entry("loop", "flow", ["loop", "done"]),
};

// the branching workflow of API.md
const branching: Definition = {
  name: "orders",
  nodes: [
    { id: "hook", type: "webhook", params: { path: "orders", method: "POST", respond: "last_node" } },
    { id: "calc", type: "set", params: { fields: { doubled: "{{ item.n * 2 }}" } } },
    { id: "check", type: "if", params: { condition: "{{ item.n > 10 }}" } },
    { id: "big", type: "set", params: { fields: { label: "big" } } },
    { id: "small", type: "set", params: { fields: { label: "small" } } },
  ],
  edges: [
    { from: "hook", to: "calc" },
    { from: "calc", to: "check" },
    { from: "check", port: "true", to: "big" },
    { from: "check", port: "false", to: "small" },
  ],
};

describe("definitionToGraph / graphToDefinition", () => {
  it("round-trips a definition, keeping node order, edge order and ports", () => {
    const graph = definitionToGraph(branching, catalog);
    expect(graph.nodes.map((n) => n.id)).toEqual(["hook", "calc", "check", "big", "small"]);
    expect(graph.edges.map((e) => [e.source, e.sourceHandle, e.target])).toEqual([
      ["hook", "main", "calc"],
      ["calc", "main", "check"],
      ["check", "true", "big"],
      ["check", "false", "small"],
    ]);
    const back = graphToDefinition(graph.nodes, graph.edges, branching);
    expect(back.nodes).toEqual(branching.nodes);
    expect(back.edges).toEqual(branching.edges);
  });

  it("lays out a definition without positions left to right, and keeps positions it is given", () => {
    const graph = definitionToGraph(branching, catalog);
    const x = Object.fromEntries(graph.nodes.map((n) => [n.id, n.position.x]));
    expect(x.hook).toBeLessThan(x.calc);
    expect(x.calc).toBeLessThan(x.check);
    expect(x.check).toBeLessThan(x.big);
    const saved = graphToDefinition(graph.nodes, graph.edges, branching);
    expect(saved.settings?.console?.positions?.hook).toEqual({ x: Math.round(x.hook), y: expect.any(Number) });
    const moved = { ...saved, settings: { console: { positions: { ...saved.settings!.console!.positions!, big: { x: 999, y: 7 } } } } };
    expect(definitionToGraph(moved, catalog).nodes.find((n) => n.id === "big")!.position).toEqual({ x: 999, y: 7 });
  });

  it("keeps other settings when it writes positions", () => {
    const graph = definitionToGraph({ ...branching, settings: { timeout_seconds: 30 } }, catalog);
    const back = graphToDefinition(graph.nodes, graph.edges, { name: "orders", settings: { timeout_seconds: 30 } });
    expect(back.settings?.timeout_seconds).toBe(30);
  });

  it("gives triggers no input handle and picks a component per kind", () => {
    const graph = definitionToGraph(branching, catalog);
    const byId = Object.fromEntries(graph.nodes.map((n) => [n.id, n]));
    expect(byId.hook.type).toBe("trigger");
    expect(byId.hook.data.hasInput).toBe(false);
    expect(byId.check.type).toBe("branch");
    expect(byId.calc.type).toBe("action");
    expect(byId.calc.data.hasInput).toBe(true);
  });

  it("drops default node settings and keeps the ones that are set", () => {
    const graph = definitionToGraph(
      { ...branching, nodes: [{ id: "hook", type: "webhook", params: {}, retry: { max_attempts: 3 }, timeout_seconds: 5, on_error: "fail" }], edges: [] },
      catalog,
    );
    expect(graphToDefinition(graph.nodes, graph.edges, branching).nodes[0]).toEqual({
      id: "hook",
      type: "webhook",
      params: {},
      retry: { max_attempts: 3 },
      timeout_seconds: 5,
    });
  });
});

describe("outputPorts", () => {
  it("reads ports from the catalog entry", () => {
    expect(outputPorts({ id: "c", type: "if" }, catalog.if)).toEqual(["true", "false"]);
    expect(outputPorts({ id: "l", type: "loop" }, catalog.loop)).toEqual(["loop", "done"]);
  });
  it("takes a switch's ports from its rules and fallback", () => {
    const spec = { id: "s", type: "switch", params: { rules: [{ port: "a", condition: "{{ 1 }}" }, { port: "b", condition: true }], fallback: "other" } };
    expect(outputPorts(spec, catalog.switch)).toEqual(["a", "b", "other"]);
  });
  it("adds an error port when errors go to a port", () => {
    expect(outputPorts({ id: "x", type: "set", on_error: "error_port" }, catalog.set)).toEqual(["main", "error"]);
  });
  it("falls back to main for an unknown type", () => {
    expect(outputPorts({ id: "x", type: "nope" }, undefined)).toEqual(["main"]);
  });
});

describe("problemsOf", () => {
  it("puts each problem of a 422 on the node or edge it names", () => {
    const details = [
      { node: "calc", message: "invalid params" },
      { edge: 2, message: "no port" },
      { message: "no trigger" },
    ];
    const problems = problemsOf(details, branching);
    expect(problems.nodes).toEqual({ calc: ["invalid params"] });
    expect(problems.edges).toEqual({ "check:true->big": ["no port"] });
    expect(problems.general).toEqual(["no trigger"]);
  });
});

describe("withExecution", () => {
  it("colours nodes by status and counts the items each edge carried", () => {
    const graph = definitionToGraph(branching, catalog);
    const node = (status: string, ports?: Record<string, unknown[]>) => ({ status, attempts: 1, ports, output: ports ? Object.values(ports)[0] : null });
    const execution = {
      nodes: {
        hook: node("succeeded", { main: [{ n: 30 }] }),
        calc: node("succeeded", { main: [{ n: 30 }] }),
        check: node("succeeded", { true: [{ n: 30 }], false: [] }),
        big: node("running"),
        small: node("skipped"),
      },
    } as never;
    const shown = withExecution(graph.nodes, graph.edges, execution);
    expect(shown.nodes.map((n) => n.data.status)).toEqual(["succeeded", "succeeded", "succeeded", "running", "skipped"]);
    expect(shown.edges.map((e) => e.data?.count)).toEqual([1, 1, 1, 0]);
  });
});

describe("uniqueId", () => {
  it("numbers repeated types", () => {
    expect(uniqueId("set", [])).toBe("set");
    expect(uniqueId("set", ["set", "set_2"])).toBe("set_3");
  });
});
