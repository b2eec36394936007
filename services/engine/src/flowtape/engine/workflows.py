"""Workflows: every save an immutable version, validated against the node catalog the connectors publish."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from flowtape.common import views
from flowtape.common.bus import Bus
from flowtape.common.errors import Conflict, InvalidWorkflow, NotFound
from flowtape.common.limits import DEFAULT_LIMITS, Limits, check_items
from flowtape.common.messages import engine as msg
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.workflow import WorkflowDefinition
from flowtape.engine.catalog import NodeCatalog
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.domain.validation import validate_definition
from flowtape.engine.domain.workflow import Workflow
from flowtape.engine.outbox import Outbox
from flowtape.engine.projections import Projections
from flowtape.engine.store import LogWriter, WorkflowStore
from flowtape.engine.views import workflow_view

#: saves of one workflow change tried before giving up on a workflow that keeps changing under it
CHANGE_ATTEMPTS = 3
#: workflows read per step of a filtered listing
SEARCH_BATCH = 200


@dataclass(frozen=True)
class WorkflowSearch:
    """What ``GET /api/v1/workflows`` filters by; every filter given must hold."""

    name: str | None = None
    tag: str | None = None
    node_type: str | None = None

    def filters(self) -> bool:
        return any(value is not None for value in (self.name, self.tag, self.node_type))

    def matches(self, definition: Mapping[str, Any]) -> bool:
        if self.name is not None and self.name.casefold() not in str(definition.get("name", "")).casefold():
            return False
        if self.tag is not None and self.tag not in (definition.get("tags") or []):
            return False
        types = {node.get("type") for node in definition.get("nodes", [])}
        return self.node_type is None or self.node_type in types


def _imported(outcome: str, workflow: views.Workflow) -> dict[str, Any]:
    return {"outcome": outcome, "workflow": workflow.model_dump(mode="json")}


def _listed(workflow: Workflow) -> views.WorkflowSummary:
    return views.WorkflowSummary.model_validate(workflow_view(workflow), from_attributes=True)


def parse_id(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except (ValueError, TypeError):
        raise NotFound(f"{what} {value!r} does not exist") from None


def _pin_versions(definition: WorkflowDefinition, catalog: Mapping[str, Mapping[str, Any]]) -> WorkflowDefinition:
    """Each node without a ``version`` gets its type's latest: the saved workflow keeps running that version
    when a newer one is registered."""
    nodes = [
        node
        if node.version is not None
        else node.model_copy(update={"version": int(catalog[node.type].get("version", 1))})
        for node in definition.nodes
    ]
    return definition.model_copy(update={"nodes": nodes})


class Workflows:
    def __init__(
        self,
        *,
        store: WorkflowStore,
        writer: LogWriter,
        projections: Projections,
        catalog: NodeCatalog,
        bus: Bus,
        outbox: Outbox,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._limits = limits
        self._writer = writer
        self._projections = projections
        self._catalog = catalog
        self._bus = bus
        self._graphs: dict[tuple[str, int], WorkflowGraph] = {}
        self._workflow_locks: dict[str, asyncio.Lock] = {}
        self._cache: dict[str, Workflow] = {}

    async def _validated(self, definition: dict[str, Any]) -> tuple[WorkflowDefinition, WorkflowGraph]:
        try:
            parsed = WorkflowDefinition.model_validate(definition)
        except ValidationError as exc:
            details = [
                {"field": ".".join(str(p) for p in error["loc"]), "message": error["msg"]} for error in exc.errors()
            ]
            first = details[0]
            raise InvalidWorkflow(f"invalid workflow: {first['field']}: {first['message']}", details) from None
        self._check_size(parsed)
        graph = WorkflowGraph.build(parsed)
        catalog = await self._catalog.wait(timeout=10)
        validate_definition(graph, catalog, self._catalog.version)
        pinned = _pin_versions(parsed, catalog)
        return pinned, WorkflowGraph.build(pinned)

    def _check_size(self, definition: WorkflowDefinition) -> None:
        """Checked before the graph is built: a definition of thousands of nodes costs every decision of its runs."""
        for what, count, limit, setting in (
            ("nodes", len(definition.nodes), self._limits.max_workflow_nodes, "FLOWTAPE_MAX_WORKFLOW_NODES"),
            ("edges", len(definition.edges), self._limits.max_workflow_edges, "FLOWTAPE_MAX_WORKFLOW_EDGES"),
        ):
            if count > limit:
                message = f"invalid workflow: {count} {what}, more than the {limit} this platform allows ({setting})"
                raise InvalidWorkflow(message, [{"field": what, "message": message, "limit": limit}])

    async def load(self, workflow_id: str) -> Workflow:
        """The workflow, from memory when possible: the engine is the only writer of workflows."""
        workflow = self._cache.get(workflow_id)
        if workflow is None:
            try:
                loaded: Workflow = await asyncio.to_thread(
                    self._store.repository.get, parse_id(workflow_id, "workflow")
                )
            except AggregateNotFoundError:
                raise NotFound(f"workflow {workflow_id} does not exist") from None
            self._cache[workflow_id] = workflow = loaded
        if workflow.deleted:
            raise NotFound(f"workflow {workflow_id} was deleted")
        return workflow

    async def _save(self, workflow: Workflow) -> None:
        workflow_id = str(workflow.id)
        try:
            await self._writer.save(workflow)
        except Exception:
            self._cache.pop(workflow_id, None)  # it holds events the log does not
            raise
        self._cache[workflow_id] = workflow
        self._outbox.put([msg.WorkflowChanged(workflow_id=workflow_id)])

    def forget(self, workflow_id: str) -> None:
        """Another replica changed the workflow: the next use reads it from the log."""
        self._cache.pop(workflow_id, None)

    async def _change(self, workflow_id: str, change: Callable[[Workflow], Awaitable[None]]) -> Workflow:
        """Apply ``change`` and save; any replica may write a workflow, so a save that meets a newer version
        (another replica's write) is done again on the workflow as the log now holds it."""
        async with self._workflow_lock(workflow_id):
            for attempt in range(1, CHANGE_ATTEMPTS + 1):
                workflow = await self.load(workflow_id)
                await change(workflow)
                try:
                    await self._save(workflow)
                    return workflow
                except IntegrityError:
                    if attempt == CHANGE_ATTEMPTS:
                        raise Conflict(f"workflow {workflow_id} kept changing while it was saved; try again") from None
        raise AssertionError("unreachable")

    def forget_all(self) -> None:
        """The log was replaced (a restore): every workflow is read from it again."""
        self._cache.clear()
        self._graphs.clear()

    def _workflow_lock(self, workflow_id: str) -> asyncio.Lock:
        return self._workflow_locks.setdefault(workflow_id, asyncio.Lock())

    async def create_workflow(self, definition: dict[str, Any], project_id: str = DEFAULT_PROJECT) -> views.Workflow:
        parsed, _ = await self._validated(definition)
        workflow = Workflow(name=parsed.name, definition=parsed.dump(), project_id=project_id)
        await self._save(workflow)
        return workflow_view(workflow)

    async def update_workflow(self, workflow_id: str, definition: dict[str, Any]) -> views.Workflow:
        parsed, _ = await self._validated(definition)

        async def new_version(workflow: Workflow) -> None:
            if workflow.active:
                await self._sync_triggers(workflow_id, workflow.latest_version + 1, parsed.dump(), workflow.project_id)
            workflow.save_version(name=parsed.name, definition=parsed.dump())

        return workflow_view(await self._change(workflow_id, new_version))

    async def delete_workflow(self, workflow_id: str) -> dict[str, Any]:
        async def delete(workflow: Workflow) -> None:
            if workflow.active:
                await self._sync_triggers(workflow_id, None, None)
            workflow.delete()

        await self._change(workflow_id, delete)
        return {"id": workflow_id, "deleted": True}

    async def set_active(self, workflow_id: str, active: bool) -> views.Workflow:
        async def activate(workflow: Workflow) -> None:
            if active and not workflow.active:
                await self._sync_triggers(
                    workflow_id, workflow.latest_version, workflow.definition(), workflow.project_id
                )
                workflow.activate(version=workflow.latest_version)
            elif not active and workflow.active:
                await self._sync_triggers(workflow_id, None, None)
                workflow.deactivate()

        return workflow_view(await self._change(workflow_id, activate))

    async def pin_output(
        self, workflow_id: str, node_id: str, port: str, items: list[dict[str, Any]]
    ) -> views.Workflow:
        """Pin ``items`` as the output of a node of the latest version (replacing an earlier pin); no version."""
        check_items(items, self._limits, what=f"the output pinned for node {node_id}")

        async def pin(workflow: Workflow) -> None:
            graph = await self.graph(workflow_id, workflow.latest_version, workflow)
            if node_id not in graph.nodes:
                raise NotFound(f"workflow {workflow_id} (version {workflow.latest_version}) has no node {node_id!r}")
            workflow.pin_output(node_id=node_id, port=port, items=items)

        return workflow_view(await self._change(workflow_id, pin))

    async def unpin_output(self, workflow_id: str, node_id: str) -> views.Workflow:
        async def unpin(workflow: Workflow) -> None:
            if node_id not in workflow.pinned:
                raise NotFound(f"workflow {workflow_id} has no output pinned for node {node_id!r}")
            workflow.unpin_output(node_id=node_id)

        return workflow_view(await self._change(workflow_id, unpin))

    async def _sync_triggers(
        self,
        workflow_id: str,
        version: int | None,
        definition: dict[str, Any] | None,
        project_id: str = DEFAULT_PROJECT,
    ) -> None:
        """The triggers service registers first (and may refuse, e.g. a webhook path already taken)."""
        await self._bus.ask(
            msg.SyncWorkflowTriggers(
                workflow_id=workflow_id, version=version, definition=definition, project_id=project_id
            ),
            timeout=10,
        )

    async def list_active_workflows(self) -> dict[str, Any]:
        await self._writer.projected()
        ids = await self._projections.active_workflows()
        items = []
        for workflow_id in ids:
            try:
                workflow = await self.load(workflow_id)
            except NotFound:
                continue
            items.append(
                {
                    "workflow_id": workflow_id,
                    "version": workflow.latest_version,
                    "definition": workflow.definition(),
                    "project_id": workflow.project_id,
                }
            )
        return {"items": items}

    async def get_workflow(self, workflow_id: str, version: int | None) -> views.Workflow:
        workflow = await self.load(workflow_id)
        if version is not None and not 1 <= version <= workflow.latest_version:
            raise NotFound(f"workflow {workflow_id} has no version {version} (latest is {workflow.latest_version})")
        return workflow_view(workflow, version)

    async def list_versions(self, workflow_id: str) -> views.WorkflowVersions:
        workflow = await self.load(workflow_id)
        return views.WorkflowVersions(
            items=[
                views.WorkflowVersion(
                    version=number, name=definition.get("name"), saved_at=workflow.saved_at[number - 1].isoformat()
                )
                for number, definition in enumerate(workflow.versions, start=1)
            ]
        )

    async def list_workflows(
        self,
        limit: int,
        cursor: str | None,
        search: WorkflowSearch | None = None,
        project_ids: list[str] | None = None,
    ) -> views.WorkflowPage:
        await self._writer.projected()
        if search is not None and search.filters():
            return await self._search(limit, cursor, search, project_ids)
        ids, next_cursor = await self._projections.list_workflows(limit=limit, cursor=cursor, project_ids=project_ids)
        items = []
        for workflow_id in ids:
            try:
                workflow = await self.load(workflow_id)
            except NotFound:
                continue
            items.append(_listed(workflow))
        return views.WorkflowPage(items=items, next_cursor=next_cursor)

    async def _search(
        self, limit: int, cursor: str | None, search: WorkflowSearch, project_ids: list[str] | None
    ) -> views.WorkflowPage:
        """A filtered page: workflows are read in list order until the page is full (the cursor continues after
        the last one that matched)."""
        items: list[views.WorkflowSummary] = []
        while True:
            rows = await self._projections.scan_workflows(limit=SEARCH_BATCH, cursor=cursor, project_ids=project_ids)
            for index, (workflow_id, row_cursor) in enumerate(rows):
                try:
                    workflow = await self.load(workflow_id)
                except NotFound:
                    continue
                if search.matches(workflow.definition()):
                    items.append(_listed(workflow))
                    if len(items) == limit:
                        more = index + 1 < len(rows) or len(rows) == SEARCH_BATCH
                        return views.WorkflowPage(items=items, next_cursor=row_cursor if more else None)
            if len(rows) < SEARCH_BATCH:
                return views.WorkflowPage(items=items, next_cursor=None)
            cursor = rows[-1][1]

    async def import_workflow(
        self,
        workflow_id: UUID,
        definition: dict[str, Any],
        as_copy: bool,
        project_id: str = DEFAULT_PROJECT,
        project_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """An exported workflow, put in under the id it was exported with: the same file imported again is the
        same workflow (``unchanged``, or ``updated`` to a new version when it differs). A workflow deleted here
        since, or ``as_copy``, makes a new workflow (``copied``), named as the file says. New ones go into
        ``project_id``; an existing one stays in its project, and is NotFound unless that is in ``project_ids``."""
        parsed, _ = await self._validated(definition)
        if as_copy:
            return _imported("copied", await self.create_workflow(parsed.dump(), project_id))
        try:
            existing = await self.load(str(workflow_id))
        except NotFound:
            if await self._exists(workflow_id):  # deleted here: its id cannot come back
                return _imported("copied", await self.create_workflow(parsed.dump(), project_id))
            workflow = Workflow.imported(workflow_id, name=parsed.name, definition=parsed.dump(), project_id=project_id)
            await self._save(workflow)
            return _imported("created", workflow_view(workflow))
        if project_ids is not None and existing.project_id not in project_ids:
            raise NotFound(f"workflow {str(workflow_id)!r} does not exist")
        if existing.definition() == parsed.dump():
            return _imported("unchanged", workflow_view(existing))
        return _imported("updated", await self.update_workflow(str(workflow_id), parsed.dump()))

    async def _exists(self, workflow_id: UUID) -> bool:
        try:
            await asyncio.to_thread(self._store.repository.get, workflow_id)
        except AggregateNotFoundError:
            return False
        return True

    async def duplicate_workflow(
        self, workflow_id: str, name: str | None, project_id: str | None = None
    ) -> views.Workflow:
        """A new, inactive workflow with the latest version's definition (named ``<name> (copy)`` by default), in
        the source's project unless ``project_id`` names another."""
        source = await self.load(workflow_id)
        definition = dict(source.definition())
        definition["name"] = name or f"{definition.get('name', source.name)} (copy)"[:200]
        return await self.create_workflow(definition, project_id or source.project_id)

    async def project_of(self, workflow_id: str) -> str:
        """The workflow's project, from the read model (a deleted workflow has none: NotFound). An id that is no
        UUID is no workflow's, and never reaches the database (a NUL in it is an error there)."""
        parse_id(workflow_id, "workflow")
        await self._writer.projected()
        project = await self._projections.project_of_workflow(workflow_id)
        if project is None:  # made by another replica a moment ago, not in the read model yet: the log says
            project = (await self.load(workflow_id)).project_id
        return project

    async def graph(self, workflow_id: str, version: int, workflow: Workflow | None = None) -> WorkflowGraph:
        """The graph of an exact version (immutable, so cached for good)."""
        key = (workflow_id, version)
        graph = self._graphs.get(key)
        if graph is None:
            workflow = workflow or await self.load(workflow_id)
            graph = WorkflowGraph.from_dict(workflow.definition(version))
            self._graphs[key] = graph
        return graph
