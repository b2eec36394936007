"""``validate_schema``: items that fit a JSON Schema go on, the others go to port ``invalid`` with the reasons.

The schema's own dialect (``$schema``) is honoured, Draft 2020-12 by default; a schema that is itself invalid
fails the node. Compiled validators are cached by the schema's text. jsonschema is imported when the node
first runs.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import Field

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = ["SCHEMA_NODES", "ValidateSchemaNode"]

#: at most this many reasons are listed per invalid item
MAX_REASONS = 20


class ValidateSchemaParams(NodeParams):
    json_schema: dict[str, Any] = Field(
        alias="schema", description="The JSON Schema each item must satisfy (Draft 2020-12 unless $schema says)."
    )
    errors_field: str = Field(
        default="validation_errors",
        min_length=1,
        max_length=200,
        description="The field of invalid items that lists the reasons: [{'path', 'message'}].",
    )


@lru_cache(maxsize=128)
def _validator(text: str) -> Any:
    import jsonschema
    from jsonschema.exceptions import SchemaError

    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
        raise NodeError(
            f"invalid parameters for validate_schema: the schema is invalid at {where}: {exc.message}"
        ) from None
    return cls(schema)


class ValidateSchemaNode(NodeType[ValidateSchemaParams]):
    type = "validate_schema"
    category = "data"
    description = (
        "Checks items against a JSON Schema: valid items go to 'main', invalid ones to 'invalid' with reasons."
    )
    Params = ValidateSchemaParams
    ports = ("main", "invalid")
    mode = "batch"
    pure = True
    raw_params: ClassVar[tuple[str, ...]] = ("schema",)
    examples = (
        NodeExample(
            title="Orders need an email and a positive total",
            params={
                "schema": {
                    "type": "object",
                    "required": ["email", "total"],
                    "properties": {"email": {"type": "string"}, "total": {"type": "number", "exclusiveMinimum": 0}},
                }
            },
            input=[{"email": "a@example.com", "total": 5}, {"total": -1}],
            output={
                "main": [{"email": "a@example.com", "total": 5}],
                "invalid": [
                    {
                        "total": -1,
                        "validation_errors": [
                            {"path": "", "message": "'email' is a required property"},
                            {"path": "total", "message": "-1 is less than or equal to the minimum of 0"},
                        ],
                    }
                ],
            },
        ),
    )

    async def run(self, ctx: NodeContext, params: ValidateSchemaParams, items: list[Item]) -> NodeResult:
        validator = _validator(json.dumps(params.json_schema, sort_keys=True))
        valid: list[Item] = []
        invalid: list[Item] = []
        for item in items:
            errors = sorted(validator.iter_errors(item), key=lambda error: list(map(str, error.absolute_path)))
            if not errors:
                valid.append(item)
                continue
            reasons = [
                {"path": ".".join(str(part) for part in error.absolute_path), "message": error.message}
                for error in errors[:MAX_REASONS]
            ]
            invalid.append({**item, params.errors_field: reasons})
        return NodeResult({"main": valid, "invalid": invalid})


SCHEMA_NODES: tuple[type[NodeType[Any]], ...] = (ValidateSchemaNode,)
