"""Where messages go: the routing decisions that decide which services pay for a message."""

from __future__ import annotations

from flowtape.common.bus.memory import topic_matches
from flowtape.common.messages.engine import ExecutionFinished
from flowtape.common.topology import (
    EVERY_EXECUTION_FINISHED,
    execution_finished_broadcast,
    route_of,
)


def _finished(*, answered: bool) -> ExecutionFinished:
    return ExecutionFinished(
        workflow_id="w", execution_id="e", workflow_version=1, status="succeeded", answered=answered
    )


def test_a_finish_the_start_reply_answered_reaches_execution_triggers_but_no_gateway() -> None:
    gateway = execution_finished_broadcast("replica-1")
    waited, answered = route_of(_finished(answered=False)), route_of(_finished(answered=True))
    assert waited.exchange == answered.exchange == gateway.exchange
    assert topic_matches(gateway.binding, waited.routing_key)
    assert not topic_matches(gateway.binding, answered.routing_key)
    assert topic_matches(EVERY_EXECUTION_FINISHED, waited.routing_key)
    assert topic_matches(EVERY_EXECUTION_FINISHED, answered.routing_key)
