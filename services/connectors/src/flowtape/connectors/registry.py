"""Which node types this worker can run: the built-ins, ``http_request``, ``code`` and plugins.

Plugins are distributions declaring an entry point in the ``flowtape.nodes`` group that loads a
:class:`NodeType` subclass, e.g. in their ``pyproject.toml``::

    [project.entry-points."flowtape.nodes"]
    slack_post = "flowtape_slack:SlackPostNode"

A plugin that fails to load, is not a node type, or reuses a taken type name and version is skipped with a
warning: one broken plugin must not take the service down. A node type may come in several versions (a class
per version, the same ``type``, each its own entry point): workflows name the version they were saved with.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import httpx

from flowtape.common.errors import Conflict, InvalidInput, NotFound
from flowtape.common.nodes.builtin import BUILTIN_NODES
from flowtape.common.nodes.sdk import NodeParams, NodeType
from flowtape.connectors.connections import Connections
from flowtape.connectors.integrations import integration_nodes
from flowtape.connectors.nodes.code import CodeNode
from flowtape.connectors.nodes.hmac import HmacNode
from flowtape.connectors.nodes.http_request import HttpRequestNode
from flowtape.connectors.sandbox import Sandbox

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "flowtape.nodes"


class EntryPointLike(Protocol):
    name: str
    value: str

    def load(self) -> Any: ...


EntryPointLoader = Callable[[], Iterable[EntryPointLike]]


def installed_plugins() -> Iterable[EntryPointLike]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


class NodeRegistry:
    """Node type instances by type name and version; the first registration of a (name, version) wins."""

    def __init__(self, nodes: Iterable[NodeType[Any]] = ()) -> None:
        self._nodes: dict[str, NodeType[Any]] = {}
        self._versions: dict[tuple[str, int], NodeType[Any]] = {}
        for node in nodes:
            self.register(node)

    @classmethod
    def default(
        cls,
        http_client: httpx.AsyncClient | None = None,
        *,
        sandbox: Sandbox | None = None,
        code_network_allowed: bool = False,
        plugins: EntryPointLoader = installed_plugins,
        connections: Connections | None = None,
    ) -> NodeRegistry:
        """Built-ins, ``http_request`` on ``http_client`` (owned by the caller), ``code``, ``hmac``, the integrations
        on ``connections`` (owned by the caller; a guarded default when not given), then plugins."""
        registry = cls(_instance(node) for node in BUILTIN_NODES)
        connections = connections or Connections()
        registry.register(HttpRequestNode(http_client, limits=connections.limits))
        registry.register(CodeNode(sandbox, network_allowed=code_network_allowed))
        registry.register(HmacNode())
        for node in integration_nodes(connections):
            registry.register(node)
        registry.load_plugins(plugins)
        return registry

    def register(self, node: NodeType[Any]) -> None:
        """Raises :class:`Conflict` when the type name is taken, :class:`InvalidInput` when malformed."""
        cls = type(node)
        _check_node_class(cls)
        key = (cls.type, cls.version)
        if key in self._versions:
            taken = type(self._versions[key])
            raise Conflict(
                f"node type {cls.type!r} is already registered (version {cls.version}) by "
                f"{taken.__module__}.{taken.__qualname__}"
            )
        self._versions[key] = node
        latest = self._nodes.get(cls.type)
        if latest is None or type(latest).version < cls.version:
            self._nodes[cls.type] = node

    def load_plugins(self, plugins: EntryPointLoader = installed_plugins) -> None:
        try:
            entry_points = list(plugins())
        except Exception:
            logger.exception("could not list the %r entry points; no node plugins loaded", ENTRY_POINT_GROUP)
            return
        for entry_point in entry_points:
            self._load_plugin(entry_point)

    def _load_plugin(self, entry_point: EntryPointLike) -> None:
        where = f"node plugin {entry_point.name!r} ({entry_point.value})"
        try:
            loaded = entry_point.load()
            node = _instance(loaded)
            self.register(node)
        except Conflict as exc:
            logger.warning("%s refused: %s", where, exc.message)
        except InvalidInput as exc:
            logger.warning("%s skipped: %s", where, exc.message)
        except Exception as exc:
            logger.warning("%s skipped: it failed to load: %s: %s", where, type(exc).__name__, exc, exc_info=True)
        else:
            logger.info("%s registered node type %r", where, type(node).type)

    def get(self, type_name: str, version: int | None = None) -> NodeType[Any]:
        """The type at ``version``; with none, the earliest (a workflow saved before versions were recorded)."""
        if type_name not in self._nodes:
            known = ", ".join(sorted(self._nodes)) or "none"
            raise NotFound(f"unknown node type {type_name!r}; known types: {known}")
        if version is None:
            version = min(v for name, v in self._versions if name == type_name)
        try:
            return self._versions[(type_name, version)]
        except KeyError:
            have = ", ".join(str(v) for name, v in sorted(self._versions) if name == type_name)
            raise NotFound(f"node type {type_name!r} has no version {version} here (versions: {have})") from None

    def catalog(self) -> list[dict[str, Any]]:
        """Every version of every type, ``describe()``-d, sorted by type name then version."""
        return [type(self._versions[key]).describe() for key in sorted(self._versions)]

    def types(self) -> list[str]:
        return sorted(self._nodes)

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._nodes

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._nodes))

    def __len__(self) -> int:
        return len(self._nodes)


def _instance(loaded: Any) -> NodeType[Any]:
    if isinstance(loaded, NodeType):
        return loaded
    if isinstance(loaded, type) and issubclass(loaded, NodeType):
        _check_node_class(loaded)
        return loaded()
    raise InvalidInput(f"it loads {loaded!r}, which is not a NodeType subclass")


def _check_node_class(cls: type[NodeType[Any]]) -> None:
    name = getattr(cls, "type", None)
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{cls.__qualname__} does not set a type name")
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and issubclass(params, NodeParams)):
        raise InvalidInput(f"{cls.__qualname__} ({name}) does not set Params to a NodeParams subclass")
    if cls.mode not in ("per_item", "batch"):
        raise InvalidInput(f"{cls.__qualname__} ({name}) has an unknown mode {cls.mode!r}")
    entry = "run_item" if cls.mode == "per_item" else "run"
    if getattr(cls, entry) is getattr(NodeType, entry):
        raise InvalidInput(f"{cls.__qualname__} ({name}) is a {cls.mode} node but does not implement {entry}")
    try:
        cls.describe()
    except Exception as exc:
        raise InvalidInput(f"{cls.__qualname__} ({name}) cannot describe itself: {exc}") from exc
