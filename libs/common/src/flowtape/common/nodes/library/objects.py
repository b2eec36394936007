"""Editing the shape of items by dotted path: pick, omit, rename or move, set, flatten and unflatten."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.nodes.library.paths import MISSING, FieldPath, delete_path, field_error, get_path, set_path
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = [
    "OBJECT_NODES",
    "FlattenNode",
    "OmitFieldsNode",
    "PickFieldsNode",
    "RenameFieldsNode",
    "SetFieldsNode",
    "UnflattenNode",
]


class PickFieldsParams(NodeParams):
    fields: list[FieldPath] = Field(min_length=1, description="The fields to keep (dotted paths keep their nesting).")


class PickFieldsNode(NodeType[PickFieldsParams]):
    type = "pick_fields"
    category = "data"
    description = "Keeps only the listed fields of each item (missing ones are left out)."
    Params = PickFieldsParams
    pure = True
    examples = (
        NodeExample(
            title="Keep the id and the customer's email",
            params={"fields": ["id", "customer.email"]},
            input=[{"id": 1, "secret": "x", "customer": {"email": "a@example.com", "phone": "123"}}],
            output={"main": [{"id": 1, "customer": {"email": "a@example.com"}}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: PickFieldsParams, item: Item) -> NodeResult:
        picked: Item = {}
        for path in params.fields:
            value = get_path(item, path)
            if value is not MISSING:
                picked = set_path(picked, path, value)
        return NodeResult.on([picked])


class OmitFieldsParams(NodeParams):
    fields: list[FieldPath] = Field(min_length=1, description="The fields to remove (missing ones are ignored).")


class OmitFieldsNode(NodeType[OmitFieldsParams]):
    type = "omit_fields"
    category = "data"
    description = "Removes the listed fields from each item."
    Params = OmitFieldsParams
    pure = True
    examples = (
        NodeExample(
            title="Drop internal fields",
            params={"fields": ["internal", "customer.phone"]},
            input=[{"id": 1, "internal": True, "customer": {"email": "a@example.com", "phone": "123"}}],
            output={"main": [{"id": 1, "customer": {"email": "a@example.com"}}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: OmitFieldsParams, item: Item) -> NodeResult:
        for path in params.fields:
            item = delete_path(item, path)
        return NodeResult.on([item])


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_: FieldPath = Field(alias="from", description="The field's current path.")
    to: FieldPath = Field(description="Its new path (another parent moves it).")


class RenameFieldsParams(NodeParams):
    renames: list[Rename] = Field(min_length=1, description="Applied in order.")
    if_missing: Literal["skip", "fail"] = Field(
        default="skip", description="'skip' leaves items without the field as they are; 'fail' fails the node."
    )


class RenameFieldsNode(NodeType[RenameFieldsParams]):
    type = "rename_fields"
    category = "data"
    description = "Renames fields or moves them to another place in the item, by dotted path."
    Params = RenameFieldsParams
    pure = True
    examples = (
        NodeExample(
            title="Rename a key and move a nested one up",
            params={"renames": [{"from": "fname", "to": "first_name"}, {"from": "address.city", "to": "city"}]},
            input=[{"fname": "Ann", "address": {"city": "Lyon", "zip": "69001"}}],
            output={"main": [{"address": {"zip": "69001"}, "first_name": "Ann", "city": "Lyon"}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: RenameFieldsParams, item: Item) -> NodeResult:
        for rename in params.renames:
            value = get_path(item, rename.from_)
            if value is MISSING:
                if params.if_missing == "fail":
                    raise field_error(rename.from_, "is missing")
                continue
            item = set_path(delete_path(item, rename.from_), rename.to, value)
        return NodeResult.on([item])


class SetFieldsParams(NodeParams):
    values: dict[str, Any] = Field(
        min_length=1,
        description="Field paths and their values, e.g. {'customer.tier': 'gold', 'lines.0.qty': 2}; values are "
        "often expressions over item.",
    )


class SetFieldsNode(NodeType[SetFieldsParams]):
    """Like ``set``, but keys are dotted paths into nested objects (``set`` writes top-level keys)."""

    type = "set_fields"
    category = "data"
    description = "Sets fields by dotted path, creating nested objects as needed."
    Params = SetFieldsParams
    pure = True
    examples = (
        NodeExample(
            title="Set a nested field from an expression",
            params={"values": {"customer.tier": "{{ 'gold' if item.total > 100 else 'silver' }}", "checked": True}},
            input=[{"total": 150, "customer": {"name": "Ann"}}],
            output={"main": [{"total": 150, "customer": {"name": "Ann", "tier": "gold"}, "checked": True}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: SetFieldsParams, item: Item) -> NodeResult:
        for path, value in params.values.items():
            item = set_path(item, path, value)
        return NodeResult.on([item])


class FlattenParams(NodeParams):
    separator: str = Field(default=".", min_length=1, max_length=5, description="What joins the keys of a path.")
    lists: bool = Field(default=False, description="Flatten lists too, with their indexes as keys ('tags.0').")
    field: FieldPath | None = Field(default=None, description="Flatten only this object field; by default the item.")


def _flatten(value: Any, prefix: str, separator: str, lists: bool, out: Item) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _flatten(child, f"{prefix}{separator}{key}" if prefix else str(key), separator, lists, out)
    elif lists and isinstance(value, list) and value:
        for index, child in enumerate(value):
            _flatten(child, f"{prefix}{separator}{index}" if prefix else str(index), separator, lists, out)
    else:
        out[prefix] = value


class FlattenNode(NodeType[FlattenParams]):
    type = "flatten"
    category = "data"
    description = "Turns nested objects into one level of keys such as 'address.city' (the inverse of unflatten)."
    Params = FlattenParams
    pure = True
    examples = (
        NodeExample(
            title="A nested customer, flat",
            params={},
            input=[{"id": 1, "customer": {"name": "Ann", "address": {"city": "Lyon"}}}],
            output={"main": [{"id": 1, "customer.name": "Ann", "customer.address.city": "Lyon"}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: FlattenParams, item: Item) -> NodeResult:
        if params.field is None:
            flat: Item = {}
            _flatten(item, "", params.separator, params.lists, flat)
            return NodeResult.on([flat])
        value = get_path(item, params.field)
        if not isinstance(value, dict):
            raise field_error(params.field, "expected an object to flatten")
        inner: Item = {}
        _flatten(value, "", params.separator, params.lists, inner)
        return NodeResult.on([set_path(item, params.field, inner)])


class UnflattenParams(NodeParams):
    separator: str = Field(default=".", min_length=1, max_length=5, description="What separates the keys of a path.")


class UnflattenNode(NodeType[UnflattenParams]):
    type = "unflatten"
    category = "data"
    description = "Turns keys such as 'address.city' into nested objects (the inverse of flatten)."
    Params = UnflattenParams
    pure = True
    examples = (
        NodeExample(
            title="Flat columns to a nested item",
            params={},
            input=[{"id": 1, "customer.name": "Ann", "customer.address.city": "Lyon"}],
            output={"main": [{"id": 1, "customer": {"name": "Ann", "address": {"city": "Lyon"}}}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: UnflattenParams, item: Item) -> NodeResult:
        nested: Item = {}
        for key, value in item.items():
            parts = str(key).split(params.separator)
            target = nested
            for depth, part in enumerate(parts[:-1]):
                child = target.setdefault(part, {})
                if not isinstance(child, dict):
                    where = params.separator.join(parts[: depth + 1])
                    raise field_error(str(key), f"{where!r} is both a value and an object")
                target = child
            if parts[-1] in target and isinstance(target[parts[-1]], dict):
                raise field_error(str(key), "is both a value and an object")
            target[parts[-1]] = value
        return NodeResult.on([nested])


OBJECT_NODES: tuple[type[NodeType[Any]], ...] = (
    PickFieldsNode,
    OmitFieldsNode,
    RenameFieldsNode,
    SetFieldsNode,
    FlattenNode,
    UnflattenNode,
)
