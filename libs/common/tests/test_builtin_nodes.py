"""The built-in pure node types, each run through ``execute_node`` as the engine and connectors run them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.expressions import ExpressionError
from flowtape.common.nodes.builtin import (
    CORE_NODES,
    IfNode,
    ManualTriggerNode,
    MergeNode,
    NoopNode,
    RespondNode,
    ScheduleNode,
    ScheduleParams,
    SetNode,
    SwitchNode,
    WaitNode,
    WaitParams,
    WebhookNode,
    WebhookParams,
)
from flowtape.common.nodes.sdk import NodeContext, NodeParams, NodeResult, NodeType, execute_node


def context(node_id: str = "node", **overrides: Any) -> NodeContext:
    values: dict[str, Any] = {
        "execution_id": "ex-1",
        "workflow_id": "wf-1",
        "workflow_version": 1,
        "node_id": node_id,
    }
    values.update(overrides)
    return NodeContext(**values)


async def run(node: NodeType[Any], params: dict[str, Any], items: list[dict[str, Any]], **ctx: Any) -> NodeResult:
    return await execute_node(node, params, context(**ctx), items)


# --- the catalog --------------------------------------------------------------------------------------------


def test_every_core_node_is_pure_and_described() -> None:
    names = [node.type for node in CORE_NODES]
    assert names == [
        "manual_trigger",
        "webhook",
        "schedule",
        "set",
        "if",
        "switch",
        "merge",
        "noop",
        "respond",
        "wait",
        "execution_trigger",
        "message_trigger",
    ]
    for node in CORE_NODES:
        entry = node.describe()
        assert entry["pure"] is True
        assert entry["description"]
        assert entry["params_schema"]["type"] == "object"
        assert entry["params_schema"]["additionalProperties"] is False
        assert issubclass(node.Params, NodeParams)
        assert node.category in {"trigger", "core", "flow"}
    triggers = {node.type for node in CORE_NODES if node.trigger}
    assert triggers == {"manual_trigger", "webhook", "schedule", "execution_trigger", "message_trigger"}


async def test_unknown_params_are_refused() -> None:
    with pytest.raises(NodeError, match="invalid parameters for noop: typo: Extra inputs are not permitted"):
        await run(NoopNode(), {"typo": 1}, [{}])


# --- triggers -----------------------------------------------------------------------------------------------


async def test_manual_trigger_passes_its_input_on() -> None:
    items = [{"n": 1}, {"n": 2}]
    result = await run(ManualTriggerNode(), {}, items)
    assert result.ports == {"main": items}
    assert result.ports["main"] is not items


async def test_webhook_passes_the_request_items_on_and_validates_its_params() -> None:
    params = {"path": "/shop/orders/", "method": "post", "respond": "last_node", "secret": "s3cret"}
    result = await run(WebhookNode(), params, [{"order": 1}])
    assert result.ports == {"main": [{"order": 1}]}

    parsed = WebhookParams.model_validate(params)
    assert (parsed.path, parsed.method, parsed.respond) == ("shop/orders", "POST", "last_node")
    defaults = WebhookParams.model_validate({"path": "orders"})
    assert (defaults.method, defaults.respond, defaults.secret, defaults.timeout_seconds) == (
        "POST",
        "immediately",
        None,
        None,
    )


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"path": ""},
        {"path": "a b"},
        {"path": "../admin"},
        {"path": "orders?x=1"},
        {"path": "orders", "method": "TRACE"},
        {"path": "orders", "respond": "later"},
        {"path": "orders", "timeout_seconds": 0},
        {"path": "orders", "secret": ""},
    ],
)
async def test_webhook_refuses_bad_params(params: dict[str, Any]) -> None:
    with pytest.raises(NodeError, match="invalid parameters for webhook"):
        await run(WebhookNode(), params, [{}])


async def test_schedule_passes_its_tick_on() -> None:
    tick = {"scheduled_at": "2026-01-01T09:00:00Z", "fired_at": "2026-01-01T09:00:01Z"}
    result = await run(ScheduleNode(), {"cron": "0 9 * * MON-FRI", "timezone": "Europe/Paris"}, [tick])
    assert result.ports == {"main": [tick]}


def test_schedule_params() -> None:
    by_cron = ScheduleParams.model_validate({"cron": "  */5  * * * * "})
    assert (by_cron.cron, by_cron.interval, by_cron.timezone, by_cron.catch_up) == (
        "*/5 * * * *",
        None,
        "UTC",
        "none",
    )
    assert ScheduleParams.model_validate({"cron": "0 */5 * * * *"}).cron == "0 */5 * * * *"
    by_interval = ScheduleParams.model_validate({"interval": 90, "catch_up": "latest"})
    assert (by_interval.interval, by_interval.catch_up) == (90.0, "latest")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "exactly one of 'cron' or 'interval'"),
        ({"cron": "* * * * *", "interval": 60}, "exactly one of 'cron' or 'interval'"),
        ({"cron": "* * * *"}, "5 or 6"),
        ({"cron": "* * * * * * *"}, "5 or 6"),
        ({"cron": "* * * * ; rm"}, "5 or 6"),
        ({"interval": 0}, "greater than 0"),
        ({"interval": -5}, "greater than 0"),
        ({"interval": 60, "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"interval": 60, "timezone": "../../etc/passwd"}, "unknown time zone"),
        ({"interval": 60, "catch_up": "some"}, "catch_up"),
    ],
)
async def test_schedule_refuses_bad_params(params: dict[str, Any], reason: str) -> None:
    with pytest.raises(NodeError, match="invalid parameters for schedule") as caught:
        await run(ScheduleNode(), params, [{}])
    assert reason in caught.value.message


# --- set ----------------------------------------------------------------------------------------------------


async def test_set_merges_rendered_fields_into_each_item() -> None:
    params = {"fields": {"doubled": "{{ item.n * 2 }}", "label": "n={{ item.n }}", "fixed": [1]}}
    result = await run(SetNode(), params, [{"n": 3, "keep": True}, {"n": 30}])
    assert result.ports == {
        "main": [
            {"n": 3, "keep": True, "doubled": 6, "label": "n=3", "fixed": [1]},
            {"n": 30, "doubled": 60, "label": "n=30", "fixed": [1]},
        ]
    }


async def test_set_overwrites_keys_and_does_not_touch_its_input() -> None:
    items = [{"n": 3, "a.b": 0}]
    result = await run(SetNode(), {"fields": {"n": "{{ item.n + 1 }}", "a.b": 1}}, items)
    assert result.ports["main"] == [{"n": 4, "a.b": 1}]
    assert items == [{"n": 3, "a.b": 0}]


async def test_set_keep_only_set() -> None:
    params = {"fields": {"id": "{{ item.id }}"}, "keep_only_set": True}
    result = await run(SetNode(), params, [{"id": 1, "secret": "x"}])
    assert result.ports == {"main": [{"id": 1}]}


async def test_set_sees_the_whole_scope() -> None:
    params = {
        "fields": {
            "order": "{{ trigger[0].order }}",
            "price": "{{ nodes['lookup'].output[0].price }}",
            "run": "{{ execution.id }}",
            "count": "{{ items | length }}",
        }
    }
    result = await run(
        SetNode(),
        params,
        [{}, {}],
        trigger=[{"order": 7}],
        node_outputs={"lookup": [{"price": 9.5}]},
    )
    assert result.ports["main"] == [{"order": 7, "price": 9.5, "run": "ex-1", "count": 2}] * 2


async def test_a_failing_expression_fails_the_node() -> None:
    with pytest.raises(ExpressionError, match="'itme' is undefined"):
        await run(SetNode(), {"fields": {"x": "{{ itme.n }}"}}, [{"n": 1}])


# --- if and switch ------------------------------------------------------------------------------------------


async def test_if_routes_each_item_to_true_or_false() -> None:
    items = [{"n": 3}, {"n": 30}, {"n": 11}, {"n": 10}]
    result = await run(IfNode(), {"condition": "{{ item.n > 10 }}"}, items)
    assert result.ports == {"true": [{"n": 30}, {"n": 11}], "false": [{"n": 3}, {"n": 10}]}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (True, "true"),
        ("true", "true"),
        ("Yes", "true"),
        ("false", "false"),
        ("", "false"),
        ("{{ item.missing }}", "false"),
        ("{{ item.tags }}", "true"),
        ("{{ item.zero }}", "false"),
        ("{{ {} }}", "false"),
    ],
)
async def test_if_condition_truthiness(condition: Any, expected: str) -> None:
    item = {"tags": ["a"], "zero": 0}
    result = await run(IfNode(), {"condition": condition}, [item])
    assert result.ports[expected] == [item]


async def test_if_refuses_text_that_is_not_a_boolean() -> None:
    # A condition written without braces would otherwise always be true.
    with pytest.raises(NodeError, match="expected a boolean"):
        await run(IfNode(), {"condition": "item.n > 10"}, [{"n": 1}])
    with pytest.raises(NodeError, match="condition"):
        await run(IfNode(), {}, [{"n": 1}])


async def test_the_branching_example_from_the_api() -> None:
    """API.md's "orders" workflow: hook -> calc -> check -> big | small, driven node by node."""
    outputs: dict[str, list[dict[str, Any]]] = {}

    async def step(node_id: str, node: NodeType[Any], params: dict[str, Any], items: list[Any]) -> NodeResult:
        ctx = context(node_id, trigger=trigger, node_outputs=dict(outputs))
        result = await execute_node(node, params, ctx, items)
        outputs[node_id] = [item for port_items in result.ports.values() for item in port_items]
        return result

    for n, label in ((3, "small"), (30, "big")):
        outputs.clear()
        trigger = [{"n": n}]
        hook = await step("hook", WebhookNode(), {"path": "orders", "method": "POST", "respond": "last_node"}, trigger)
        calc = await step("calc", SetNode(), {"fields": {"doubled": "{{ item.n * 2 }}"}}, hook.ports["main"])
        check = await step("check", IfNode(), {"condition": "{{ item.n > 10 }}"}, calc.ports["main"])
        taken = "true" if label == "big" else "false"
        assert check.ports[taken] == [{"n": n, "doubled": n * 2}]
        assert check.ports["false" if taken == "true" else "true"] == []
        target = {"true": "big", "false": "small"}[taken]
        final = await step(target, SetNode(), {"fields": {"label": target}}, check.ports[taken])
        assert final.ports["main"] == [{"n": n, "doubled": n * 2, "label": label}]


SWITCH_PARAMS = {
    "rules": [
        {"port": "urgent", "condition": "{{ item.priority > 5 }}"},
        {"port": "email", "condition": "{{ item.channel == 'email' }}"},
        {"port": "urgent", "condition": "{{ item.vip }}"},
    ],
    "fallback": "other",
}


async def test_switch_sends_each_item_to_the_first_matching_rule_or_the_fallback() -> None:
    items = [
        {"id": 1, "priority": 9, "channel": "email"},
        {"id": 2, "priority": 1, "channel": "email"},
        {"id": 3, "priority": 1, "channel": "sms", "vip": True},
        {"id": 4, "priority": 1, "channel": "sms"},
    ]
    result = await run(SwitchNode(), SWITCH_PARAMS, items)
    assert {port: [item["id"] for item in port_items] for port, port_items in result.ports.items()} == {
        "urgent": [1, 3],
        "email": [2],
        "other": [4],
    }


async def test_switch_without_fallback_drops_unmatched_items() -> None:
    params = {"rules": [{"port": "a", "condition": "{{ item.kind == 'a' }}"}]}
    result = await run(SwitchNode(), params, [{"kind": "a"}, {"kind": "b"}])
    assert result.ports == {"a": [{"kind": "a"}]}


def test_switch_ports_come_from_its_params() -> None:
    assert SwitchNode.ports == ("*",)
    assert SwitchNode.output_ports(SWITCH_PARAMS) == ("urgent", "email", "other")
    assert SwitchNode.output_ports({"rules": "{{ nodes.x.output }}"}) == ()
    assert IfNode.output_ports({"condition": True}) == ("true", "false")
    assert SetNode.output_ports({}) == ("main",)


@pytest.mark.parametrize(
    "params",
    [
        {"rules": []},
        {"rules": [{"port": "a b", "condition": True}]},
        {"rules": [{"port": "a", "condition": True, "extra": 1}]},
        {"rules": [{"port": "a", "condition": True}], "fallback": ""},
    ],
)
async def test_switch_refuses_bad_params(params: dict[str, Any]) -> None:
    with pytest.raises(NodeError, match="invalid parameters for switch"):
        await run(SwitchNode(), params, [{}])


# --- merge, noop, respond, wait -----------------------------------------------------------------------------


async def test_merge_appends_the_incoming_items_in_order() -> None:
    items = [{"from": "a", "i": 1}, {"from": "a", "i": 2}, {"from": "b", "i": 1}]
    assert (await run(MergeNode(), {}, items)).ports == {"main": items}
    assert (await run(MergeNode(), {"mode": "append"}, items)).ports == {"main": items}
    with pytest.raises(NodeError, match="invalid parameters for merge"):
        await run(MergeNode(), {"mode": "combine_by_index"}, items)


async def test_noop_passes_items_on() -> None:
    items = [{"a": 1}, {"b": 2}]
    assert (await run(NoopNode(), {}, items)).ports == {"main": items}


async def test_respond_builds_the_webhook_response() -> None:
    params = {
        "status": 201,
        "headers": {"X-Order": "{{ item.id }}"},
        "body": {"created": "{{ items | map(attribute='id') }}"},
    }
    result = await run(RespondNode(), params, [{"id": "a"}, {"id": "b"}])
    assert result.ports == {"main": [{"status": 201, "headers": {"X-Order": "a"}, "body": {"created": ["a", "b"]}}]}


async def test_respond_defaults_to_the_items_as_body() -> None:
    one = await run(RespondNode(), {}, [{"id": 1}])
    assert one.ports == {"main": [{"status": 200, "headers": {}, "body": {"id": 1}}]}
    several = await run(RespondNode(), {}, [{"id": 1}, {"id": 2}])
    assert several.ports["main"][0]["body"] == [{"id": 1}, {"id": 2}]


@pytest.mark.parametrize("status", [99, 600, "{{ 'abc' }}"])
async def test_respond_refuses_bad_status(status: Any) -> None:
    with pytest.raises(NodeError, match="invalid parameters for respond"):
        await run(RespondNode(), {"status": status}, [{}])


async def test_wait_passes_items_on() -> None:
    items = [{"a": 1}]
    assert (await run(WaitNode(), {"seconds": 5}, items)).ports == {"main": items}
    assert (await run(WaitNode(), {"until": "2030-01-01T00:00:00Z"}, items)).ports == {"main": items}


def test_wait_params() -> None:
    assert WaitParams.model_validate({"seconds": 1.5}).seconds == 1.5
    aware = WaitParams.model_validate({"until": "2030-01-01T10:00:00+02:00"}).until
    assert aware == datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    assert aware is not None and aware.utcoffset() == timedelta(hours=2)
    naive = WaitParams.model_validate({"until": "2030-01-01T10:00:00"}).until
    assert naive == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    assert naive is not None and naive.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "params",
    [{}, {"seconds": 1, "until": "2030-01-01T00:00:00Z"}, {"seconds": -1}, {"until": "next tuesday"}],
)
async def test_wait_refuses_bad_params(params: dict[str, Any]) -> None:
    with pytest.raises(NodeError, match="invalid parameters for wait"):
        await run(WaitNode(), params, [{}])


async def test_wait_until_may_be_an_expression() -> None:
    params = {"until": "{{ item.due }}"}
    result = await run(WaitNode(), params, [{"due": "2030-05-01T12:00:00Z"}])
    assert result.ports == {"main": [{"due": "2030-05-01T12:00:00Z"}]}
