"""Ready-made workflows shipped with Flowtape, one JSON file each in this folder.

A template is a workflow definition with ``${name}`` placeholders and the parameters that fill them (each with
a description, and a default unless it must be given). Instantiating one substitutes the parameters: a string
that is exactly one placeholder becomes the parameter's value as it is (a number stays a number), a placeholder
inside other text is replaced by the value's text. ``{{ ... }}`` expressions are left for the engine.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.errors import InvalidWorkflow, NotFound

_PLACEHOLDER = re.compile(r"\$\{([a-z][a-z0-9_]*)\}")


class TemplateParameter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    default: Any = None
    required: bool = False
    #: a credential parameter names a stored credential of this type
    credential_type: str | None = None


class Template(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    description: str
    category: str
    parameters: list[TemplateParameter] = Field(default_factory=list)
    workflow: dict[str, Any]

    def instantiate(self, values: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        """The workflow definition with ``values`` (and the defaults) in place; 422 names every bad parameter."""
        known = {p.name: p for p in self.parameters}
        problems = [
            {"field": f"parameters.{key}", "message": f"template {self.id} has no parameter {key!r}"}
            for key in values
            if key not in known
        ]
        problems += [
            {"field": f"parameters.{p.name}", "message": "required"}
            for p in self.parameters
            if p.required and p.name not in values
        ]
        if problems:
            raise InvalidWorkflow(f"cannot instantiate template {self.id}: {problems[0]['message']}", problems)
        filled = {p.name: values.get(p.name, p.default) for p in self.parameters}
        definition: dict[str, Any] = _substitute(self.workflow, filled)
        definition["name"] = name or definition.get("name", self.name)
        definition["tags"] = list(dict.fromkeys([*definition.get("tags", []), f"template:{self.id}"]))
        return definition

    def listing(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "parameters": [p.model_dump() for p in self.parameters],
            "node_types": sorted({node["type"] for node in self.workflow.get("nodes", [])}),
            "workflow": self.workflow,
        }


def _substitute(value: Any, filled: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return filled[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: str(filled[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: _substitute(v, filled) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, filled) for v in value]
    return value


@cache
def templates() -> dict[str, Template]:
    """Every shipped template by id, read once."""
    found: dict[str, Template] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            template = Template.model_validate(json.loads(entry.read_text()))
            found[template.id] = template
    return found


def template(template_id: str) -> Template:
    try:
        return templates()[template_id]
    except KeyError:
        raise NotFound(f"template {template_id!r} does not exist") from None
