"""The shipped templates: each is well formed, every placeholder has a parameter, instantiation fills them."""

from __future__ import annotations

import json
import re

import pytest

from flowtape.common.errors import InvalidWorkflow, NotFound
from flowtape.common.templates import template, templates
from flowtape.common.workflow import WorkflowDefinition


def test_at_least_twelve_templates_ship() -> None:
    assert len(templates()) >= 12


@pytest.mark.parametrize("template_id", sorted(templates()))
def test_every_placeholder_is_a_parameter_and_the_result_is_a_definition(template_id: str) -> None:
    shipped = template(template_id)
    used = set(re.findall(r"\$\{([a-z0-9_]+)\}", json.dumps(shipped.workflow)))
    declared = {p.name for p in shipped.parameters}
    assert used == declared
    values = {p.name: f"value-of-{p.name}" for p in shipped.parameters if p.required}
    definition = shipped.instantiate(values)
    assert "${" not in json.dumps(definition)
    assert f"template:{template_id}" in definition["tags"]
    WorkflowDefinition.model_validate(definition)


def test_instantiation_keeps_types_and_refuses_bad_parameters() -> None:
    shipped = template("uptime-check")
    definition = shipped.instantiate({"url": "http://x.test/up", "slack_credential": "slack", "interval": 60})
    nodes = {node["id"]: node for node in definition["nodes"]}
    assert nodes["every"]["params"]["interval"] == 60
    assert nodes["alert"]["params"]["text"].startswith("http://x.test/up is down")
    with pytest.raises(InvalidWorkflow) as refused:
        shipped.instantiate({"nope": 1})
    fields = {d["field"] for d in refused.value.details}
    assert fields == {"parameters.nope", "parameters.url", "parameters.slack_credential"}
    with pytest.raises(NotFound):
        template("no-such-template")
