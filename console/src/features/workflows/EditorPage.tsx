/**
 * The workflow editor: palette, canvas and the selected node's panel. The canvas holds the graph; the
 * definition it saves is derived from it by `graphToDefinition` (one conversion module, see lib/graph.ts).
 */
import { ActionIcon, Alert, Badge, Button, Center, Group, Loader, Switch, Text, TextInput, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconArrowBackUp, IconArrowForwardUp, IconDeviceFloppy, IconDownload, IconFlask, IconHistory, IconPlayerPlay, IconSettings } from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  addEdge,
  applyEdgeChanges,
  applyNodeChanges,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type NodeChange,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { nodeTypes } from "@/components/graph/nodes";
import { StatusBadge } from "@/components/status";
import { ApiError } from "@/lib/api-client";
import { ProjectSelect } from "@/features/projects/ProjectSelect";
import { useCan, useMe } from "@/lib/auth";
import { MAIN, definitionOf, type Catalog, type Definition, type NodeSpec } from "@/lib/definition";
import {
  definitionToGraph,
  edgeId,
  graphToDefinition,
  outputPorts,
  problemsOf,
  toFlowNode,
  uniqueId,
  withExecution,
  type FlowEdge,
  type FlowNode,
  type Problems,
} from "@/lib/graph";
import { useCatalog, useExecution, useWorkflow, workflowKeys } from "@/lib/queries";
import { createWorkflow, exportWorkflow, runWorkflow, saveWorkflow, setActive, type Pins } from "./api";
import { NodePanel } from "./components/NodePanel";
import { DRAG_TYPE, Palette } from "./components/Palette";
import { RunDrawer } from "./components/RunDrawer";
import { SettingsDrawer, type Settings } from "./components/SettingsDrawer";
import { RunsPause } from "./components/RunsPause";
import { VersionsDrawer } from "./components/VersionsDrawer";

const NEW_WORKFLOW: Definition = { name: "New workflow", nodes: [], edges: [], settings: {} };
const NO_PROBLEMS: Problems = { nodes: {}, edges: {}, general: [] };
const NO_PINS: Pins = {};

type Snapshot = { nodes: FlowNode[]; edges: FlowEdge[] };

export function EditorPage() {
  const { workflowId } = useParams();
  const [search] = useSearchParams();
  const version = search.get("version") ? Number(search.get("version")) : undefined;
  const catalog = useCatalog();
  const workflow = useWorkflow(workflowId, version);
  if (catalog.isLoading || (workflowId && workflow.isLoading)) {
    return (
      <Center h="100%">
        <Loader />
      </Center>
    );
  }
  if (catalog.error || workflow.error) {
    return (
      <Alert color="red" m="lg" title="Cannot open the workflow">
        {String((catalog.error ?? workflow.error)?.message)}
      </Alert>
    );
  }
  const definition = workflow.data ? definitionOf(workflow.data) : NEW_WORKFLOW;
  return (
    <ReactFlowProvider>
      <Editor
        key={`${workflowId ?? "new"}:${workflow.data?.version ?? 0}:${version ?? "latest"}`}
        workflowId={workflowId}
        viewingVersion={version}
        latestVersion={workflow.data?.latest_version}
        active={workflow.data?.active ?? false}
        pinned={workflow.data?.pinned ?? NO_PINS}
        initial={definition}
        catalog={catalog.data!}
      />
    </ReactFlowProvider>
  );
}

function isTyping(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return !!element && (element.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName));
}

function Editor(props: {
  workflowId?: string;
  viewingVersion?: number;
  latestVersion?: number;
  active: boolean;
  /** outputs pinned in the draft: the editor's test runs use them instead of running those nodes */
  pinned: Pins;
  initial: Definition;
  catalog: Catalog;
}) {
  const { catalog, workflowId } = props;
  const canEdit = useCan("editor");
  const canRun = useCan("operator");
  const me = useMe();
  /** where a new workflow goes (a saved one stays in its project for good) */
  const [project, setProject] = useState<string | null>(me.default_project ?? null);
  const oldVersion = props.viewingVersion !== undefined && props.viewingVersion !== props.latestVersion;
  const editable = canEdit && !oldVersion;
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const flow = useReactFlow<FlowNode, FlowEdge>();

  const initialGraph = useMemo(() => definitionToGraph(props.initial, catalog), [props.initial, catalog]);
  const [nodes, setNodes] = useState<FlowNode[]>(initialGraph.nodes);
  const [edges, setEdges] = useState<FlowEdge[]>(initialGraph.edges);
  const [name, setName] = useState(props.initial.name);
  const [settings, setSettings] = useState<Settings>(props.initial.settings ?? {});
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [saving, setSaving] = useState(false);
  const [problems, setProblems] = useState<Problems>(NO_PROBLEMS);
  const [selected, setSelected] = useState<string | null>(null);
  const [executionId, setExecutionId] = useState<string | null>(null);
  // the run drawer: closed, a plain run, or a test run (pinned outputs stand in for their nodes)
  const [runOpen, setRunOpen] = useState<false | "run" | "test">(false);
  const [versionsOpen, setVersionsOpen] = useState(false);
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);
  const clipboard = useRef<Snapshot | null>(null);
  const current = useRef<Snapshot>({ nodes, edges });
  current.current = { nodes, edges };

  const execution = useExecution(executionId ?? undefined);

  // unsaved changes: what the canvas would save differs from what was loaded
  const loaded = useMemo(
    () => JSON.stringify(graphToDefinition(initialGraph.nodes, initialGraph.edges, { name: props.initial.name, settings: props.initial.settings })),
    [initialGraph, props.initial],
  );
  const [saved, setSaved] = useState<string | null>(null);
  const dirty = JSON.stringify(graphToDefinition(nodes, edges, { name, settings })) !== (saved ?? loaded);

  /** Record the graph as it is now, before a change (undo goes back to it). */
  const remember = useCallback(() => {
    past.current.push(current.current);
    if (past.current.length > 100) past.current.shift();
    future.current = [];
  }, []);

  const restore = (from: React.MutableRefObject<Snapshot[]>, to: React.MutableRefObject<Snapshot[]>) => {
    const snapshot = from.current.pop();
    if (!snapshot) return;
    to.current.push(current.current);
    setNodes(snapshot.nodes);
    setEdges(snapshot.edges);
  };
  const undo = () => restore(past, future);
  const redo = () => restore(future, past);

  const definition = useCallback(
    (): Definition => graphToDefinition(current.current.nodes, current.current.edges, { name, settings }),
    [name, settings],
  );

  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      if (!editable) changes = changes.filter((change) => change.type === "select" || change.type === "dimensions");
      if (changes.some((change) => change.type === "remove")) remember();
      setNodes((current) => applyNodeChanges(changes, current));
    },
    [editable, remember],
  );
  const onEdgesChange = useCallback(
    (changes: EdgeChange<FlowEdge>[]) => {
      if (!editable) changes = changes.filter((change) => change.type === "select");
      if (changes.some((change) => change.type === "remove")) remember();
      setEdges((current) => applyEdgeChanges(changes, current));
    },
    [editable, remember],
  );
  const onConnect = useCallback(
    (connection: Connection) => {
      if (!editable || connection.source === connection.target) return;
      const port = connection.sourceHandle ?? MAIN;
      const spec = { from: connection.source, to: connection.target, port };
      remember();
      setEdges((current) =>
        current.some((edge) => edge.id === edgeId(spec))
          ? current
          : addEdge({ ...connection, id: edgeId(spec), targetHandle: "in", data: { port } }, current),
      );
    },
    [editable, remember],
  );

  const addNode = useCallback(
    (type: string, position?: { x: number; y: number }) => {
      if (!editable) return;
      remember();
      const id = uniqueId(type, current.current.nodes.map((node) => node.id));
      const at = position ?? flow.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 });
      const node = toFlowNode({ id, type, params: {} }, catalog, at);
      setNodes((current) => [...current.map((n) => ({ ...n, selected: false })), { ...node, selected: true }]);
      setSelected(id);
    },
    [catalog, editable, flow, remember],
  );

  const lastEdit = useRef({ node: "", at: 0 });
  const updateSpec = (id: string, spec: NodeSpec) => {
    const before = current.current.nodes.find((node) => node.id === id)?.data.spec;
    if (JSON.stringify(before) === JSON.stringify(spec)) return;
    // one undo step per burst of typing in a node's panel
    if (lastEdit.current.node !== id || Date.now() - lastEdit.current.at > 1000) remember();
    lastEdit.current = { node: id, at: Date.now() };
    const entry = catalog[spec.type];
    const ports = outputPorts(spec, entry);
    setNodes((current) => current.map((node) => (node.id === id ? { ...node, data: { ...node.data, spec, ports } } : node)));
    // a port that went away (a switch rule removed) takes its edges with it
    setEdges((current) => current.filter((edge) => edge.source !== id || ports.includes(edge.sourceHandle ?? MAIN)));
  };

  const renameNode = (from: string, to: string): boolean => {
    if (!/^[A-Za-z0-9_.-]+$/.test(to) || current.current.nodes.some((node) => node.id === to)) {
      notifications.show({ color: "red", message: `"${to}" cannot be a node id here (taken, or not letters, digits, _ . -)` });
      return false;
    }
    remember();
    setNodes((current) => current.map((node) => (node.id === from ? { ...node, id: to, data: { ...node.data, spec: { ...node.data.spec, id: to } } } : node)));
    setEdges((current) =>
      current.map((edge) => {
        const source = edge.source === from ? to : edge.source;
        const target = edge.target === from ? to : edge.target;
        return { ...edge, source, target, id: edgeId({ from: source, to: target, port: edge.sourceHandle ?? MAIN }) };
      }),
    );
    setSelected(to);
    return true;
  };

  const save = useCallback(async () => {
    if (!editable) return;
    const body = definition();
    setSaving(true);
    try {
      const saved = workflowId ? await saveWorkflow(workflowId, body) : await createWorkflow(body, project);
      setProblems(NO_PROBLEMS);
      setSaved(JSON.stringify(body));
      notifications.show({ color: "green", message: `Saved "${saved.name}" as version ${saved.version}` });
      await queryClient.invalidateQueries({ queryKey: workflowKeys.all });
      if (!workflowId) navigate(`/workflows/${saved.id}`, { replace: true });
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        const found = problemsOf(error.details, body);
        if (found.general.length === 0 && Object.keys(found.nodes).length === 0 && Object.keys(found.edges).length === 0) {
          found.general.push(error.message);
        }
        setProblems(found);
        notifications.show({ color: "red", title: "Not saved: the workflow is not valid", message: error.message });
      } else {
        notifications.show({ color: "red", title: "Not saved", message: String((error as Error).message) });
      }
    } finally {
      setSaving(false);
    }
  }, [definition, editable, navigate, project, queryClient, workflowId]);

  const copy = () => {
    const chosen = current.current.nodes.filter((node) => node.selected);
    const ids = new Set(chosen.map((node) => node.id));
    clipboard.current = { nodes: chosen, edges: current.current.edges.filter((edge) => ids.has(edge.source) && ids.has(edge.target)) };
  };
  const paste = () => {
    const copied = clipboard.current;
    if (!editable || !copied || copied.nodes.length === 0) return;
    remember();
    const taken = current.current.nodes.map((node) => node.id);
    const renamed: Record<string, string> = {};
    for (const node of copied.nodes) {
      renamed[node.id] = uniqueId(node.data.spec.type, [...taken, ...Object.values(renamed)]);
    }
    const pasted = copied.nodes.map((node) => ({
      ...node,
      id: renamed[node.id],
      selected: true,
      position: { x: node.position.x + 40, y: node.position.y + 40 },
      data: { ...node.data, spec: { ...node.data.spec, id: renamed[node.id] }, status: undefined },
    }));
    const pastedEdges = copied.edges.map((edge) => {
      const spec = { from: renamed[edge.source], to: renamed[edge.target], port: edge.sourceHandle ?? MAIN };
      return { ...edge, id: edgeId(spec), source: spec.from, target: spec.to, selected: false };
    });
    setNodes((current) => [...current.map((node) => ({ ...node, selected: false })), ...pasted]);
    setEdges((current) => [...current, ...pastedEdges]);
  };

  /** Delete or Backspace: the selected nodes (with their edges) and the selected edges. */
  const removeSelected = () => {
    if (!editable) return;
    const gone = new Set(current.current.nodes.filter((node) => node.selected).map((node) => node.id));
    const edgesLeft = current.current.edges.filter((edge) => !edge.selected && !gone.has(edge.source) && !gone.has(edge.target));
    if (gone.size === 0 && edgesLeft.length === current.current.edges.length) return;
    remember();
    setNodes((nodes) => nodes.filter((node) => !gone.has(node.id)));
    setEdges(edgesLeft);
    if (selected && gone.has(selected)) setSelected(null);
  };

  const keys = useRef({ save, undo, redo, copy, paste, removeSelected });
  keys.current = { save, undo, redo, copy, paste, removeSelected };
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const mod = event.ctrlKey || event.metaKey;
      if (!mod && (event.key === "Delete" || event.key === "Backspace") && !isTyping(event.target)) {
        event.preventDefault();
        keys.current.removeSelected();
        return;
      }
      if (!mod) return;
      const key = event.key.toLowerCase();
      if (key === "s") {
        event.preventDefault();
        void keys.current.save();
        return;
      }
      if (isTyping(event.target)) return;
      if (key === "z" && !event.shiftKey) keys.current.undo();
      else if ((key === "z" && event.shiftKey) || key === "y") keys.current.redo();
      else if (key === "c") keys.current.copy();
      else if (key === "v") keys.current.paste();
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => {
    if (!dirty) return;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  const run = async (input: Record<string, unknown>[], breakpoints: string[]) => {
    if (!workflowId) return;
    try {
      const test = runOpen === "test";
      const id = await runWorkflow(workflowId, input, { version: props.viewingVersion, test, breakpoints });
      setRunOpen(false);
      if (breakpoints.length) {
        navigate(`/executions/${id}`); // where a paused run is stepped
        return;
      }
      setExecutionId(id);
      notifications.show({ message: test ? "Test run started" : "Run started", color: "blue" });
    } catch (error) {
      notifications.show({ color: "red", title: "Could not run", message: String((error as Error).message) });
    }
  };

  // what the canvas shows: the graph, the save problems and the last run's state
  const shown = useMemo(() => {
    const marked = {
      nodes: nodes.map((node) => (problems.nodes[node.id] ? { ...node, data: { ...node.data, problems: problems.nodes[node.id] } } : node)),
      edges: edges.map((edge) =>
        problems.edges[edge.id]
          ? { ...edge, label: problems.edges[edge.id][0], style: { stroke: "var(--mantine-color-red-6)", strokeWidth: 2 }, labelStyle: { fill: "var(--mantine-color-red-7)" }, data: { port: edge.data?.port ?? MAIN, ...edge.data, problems: problems.edges[edge.id] } }
          : edge,
      ),
    };
    const overlaid = withExecution(marked.nodes, marked.edges, execution.data);
    return {
      nodes: overlaid.nodes.map((node) => (props.pinned[node.id] ? { ...node, data: { ...node.data, pinned: "draft" as const } } : node)),
      edges: overlaid.edges.map((edge) =>
        edge.data?.count !== undefined && !problems.edges[edge.id]
          ? { ...edge, label: `${edge.data.count} item${edge.data.count === 1 ? "" : "s"}`, animated: false }
          : edge,
      ),
    };
  }, [nodes, edges, problems, execution.data, props.pinned]);
  const anyPinned = Object.keys(props.pinned).length > 0;

  const selectedNode = nodes.find((node) => node.id === selected);

  return (
    <div style={{ display: "flex", flexDirection: "column", height: "calc(100vh - 52px)" }}>
      <Group px="sm" py={6} gap="xs" justify="space-between" style={{ borderBottom: "1px solid var(--mantine-color-gray-3)" }} wrap="nowrap">
        <Group gap="xs" wrap="nowrap">
          <TextInput
            value={name}
            onChange={(event) => setName(event.currentTarget.value)}
            readOnly={!editable}
            size="xs"
            w={220}
            aria-label="Workflow name"
            data-testid="workflow-name"
          />
          {!workflowId && editable && <ProjectSelect value={project} onChange={setProject} role="editor" testId="workflow-project" width={180} size="xs" />}
          {workflowId && (
            <Badge variant="light" color={oldVersion ? "orange" : "gray"} data-testid="version-badge">
              v{props.viewingVersion ?? props.latestVersion}
              {oldVersion ? ` (latest v${props.latestVersion})` : ""}
            </Badge>
          )}
          {dirty && editable && <Text size="xs" c="orange">unsaved changes</Text>}
        </Group>
        <Group gap={6} wrap="nowrap">
          {editable && (
            <>
              <Tooltip label="Undo (Ctrl+Z)">
                <ActionIcon variant="default" onClick={undo} aria-label="undo" data-testid="undo">
                  <IconArrowBackUp size={16} />
                </ActionIcon>
              </Tooltip>
              <Tooltip label="Redo (Ctrl+Shift+Z)">
                <ActionIcon variant="default" onClick={redo} aria-label="redo" data-testid="redo">
                  <IconArrowForwardUp size={16} />
                </ActionIcon>
              </Tooltip>
            </>
          )}
          {workflowId && canEdit && !oldVersion && (
            <Switch
              size="xs"
              label="Active"
              checked={props.active}
              data-testid="active-toggle"
              onChange={async (event) => {
                try {
                  await setActive(workflowId, event.currentTarget.checked);
                  await queryClient.invalidateQueries({ queryKey: workflowKeys.all });
                } catch (error) {
                  notifications.show({ color: "red", message: String((error as Error).message) });
                }
              }}
            />
          )}
          {workflowId && canRun && !oldVersion && <RunsPause workflowId={workflowId} />}
          {workflowId && (
            <Button size="xs" variant="default" leftSection={<IconHistory size={14} />} onClick={() => setVersionsOpen(true)} data-testid="versions-button">
              Versions
            </Button>
          )}
          <Button size="xs" variant="default" leftSection={<IconDownload size={14} />} onClick={() => exportWorkflow(definition())}>
            Export
          </Button>
          <Button size="xs" variant="default" leftSection={<IconSettings size={14} />} onClick={() => setSettingsOpen(true)} data-testid="settings-button">
            Settings
          </Button>
          {workflowId && canRun && (
            <Button size="xs" variant="light" color="green" leftSection={<IconPlayerPlay size={14} />} onClick={() => setRunOpen("run")} disabled={dirty && editable} title={dirty ? "save first" : undefined} data-testid="run-button">
              Run
            </Button>
          )}
          {workflowId && canRun && anyPinned && (
            <Tooltip label="Run with the pinned outputs standing in for their nodes">
              <Button size="xs" variant="light" color="grape" leftSection={<IconFlask size={14} />} onClick={() => setRunOpen("test")} disabled={dirty && editable} data-testid="test-run-button">
                Test run
              </Button>
            </Tooltip>
          )}
          {editable && (
            <Button size="xs" leftSection={<IconDeviceFloppy size={14} />} onClick={save} loading={saving} data-testid="save-button">
              Save
            </Button>
          )}
        </Group>
      </Group>
      {problems.general.length > 0 && (
        <Alert color="red" py={6} radius={0} data-testid="save-problems">
          {problems.general.join(" · ")}
        </Alert>
      )}
      {executionId && execution.data && (
        <Group px="sm" py={4} gap="xs" bg="gray.0" style={{ borderBottom: "1px solid var(--mantine-color-gray-3)" }} data-testid="run-result">
          <Text size="xs">Last run:</Text>
          <StatusBadge status={execution.data.status} size="xs" />
          <Text size="xs" c="dimmed">click a node to see its input and output</Text>
          <Link to={`/executions/${executionId}`} style={{ fontSize: 12 }} data-testid="open-run">
            open in the run inspector
          </Link>
        </Group>
      )}
      <div style={{ display: "flex", flex: 1, minHeight: 0 }}>
        {editable && (
          <div style={{ width: 220, borderRight: "1px solid var(--mantine-color-gray-3)", background: "var(--mantine-color-gray-0)" }}>
            <Palette catalog={catalog} onAdd={(type) => addNode(type)} />
          </div>
        )}
        <div
          style={{ flex: 1, position: "relative" }}
          data-testid="canvas"
          onDragOver={(event) => {
            if (event.dataTransfer.types.includes(DRAG_TYPE)) {
              event.preventDefault();
              event.dataTransfer.dropEffect = "move";
            }
          }}
          onDrop={(event) => {
            const type = event.dataTransfer.getData(DRAG_TYPE);
            if (!type) return;
            event.preventDefault();
            addNode(type, flow.screenToFlowPosition({ x: event.clientX - 100, y: event.clientY - 32 }));
          }}
        >
          <ReactFlow<FlowNode, FlowEdge>
            nodes={shown.nodes}
            edges={shown.edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onNodeDragStart={() => editable && remember()}
            onSelectionChange={({ nodes: chosen }) => setSelected(chosen.length === 1 ? chosen[0].id : chosen.length === 0 ? null : selected)}
            nodesDraggable={editable}
            nodesConnectable={editable}
            deleteKeyCode={null /* Delete and Backspace are handled with the other shortcuts */}
            defaultEdgeOptions={{ type: "smoothstep" }}
            fitView={initialGraph.nodes.length > 0}
            fitViewOptions={{ maxZoom: 1.1, padding: 0.2 }}
            proOptions={{ hideAttribution: true }}
          >
            <Background gap={16} />
            <Controls showInteractive={false} />
            <MiniMap pannable zoomable style={{ width: 140, height: 90 }} />
          </ReactFlow>
          {nodes.length === 0 && (
            <Center style={{ position: "absolute", inset: 0, pointerEvents: "none" }}>
              <Text c="dimmed">{editable ? "Drag a trigger from the palette to start." : "This workflow has no nodes."}</Text>
            </Center>
          )}
        </div>
        {selectedNode && (
          <div style={{ width: 360, borderLeft: "1px solid var(--mantine-color-gray-3)", minHeight: 0 }}>
            <NodePanel
              key={selectedNode.id}
              spec={selectedNode.data.spec}
              entry={catalog[selectedNode.data.spec.type]}
              problems={problems.nodes[selectedNode.id] ?? []}
              state={execution.data?.nodes[selectedNode.id]}
              readOnly={!editable}
              pins={
                workflowId
                  ? { workflowId, ports: selectedNode.data.ports, pinned: props.pinned[selectedNode.id], canPin: editable }
                  : undefined
              }
              onChange={(spec) => updateSpec(selectedNode.id, spec)}
              onRename={(id) => renameNode(selectedNode.id, id)}
            />
          </div>
        )}
      </div>
      {settingsOpen && <SettingsDrawer opened settings={settings} editable={editable} onClose={() => setSettingsOpen(false)} onChange={setSettings} />}
      {workflowId && <RunDrawer opened={runOpen !== false} test={runOpen === "test"} nodeIds={nodes.map((node) => node.id)} onClose={() => setRunOpen(false)} onRun={run} />}
      {workflowId && (
        <VersionsDrawer
          workflowId={workflowId}
          opened={versionsOpen}
          onClose={() => setVersionsOpen(false)}
          viewing={props.viewingVersion ?? props.latestVersion}
          latest={props.latestVersion}
          canRestore={canEdit}
        />
      )}
    </div>
  );
}
