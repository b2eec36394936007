"""The wire envelope: what a reply read into a model holds, and what falls back to the general decoding."""

from __future__ import annotations

import pytest

from flowtape.common.errors import ErrorInfo, InvalidMessage
from flowtape.common.messages.base import Reply, decode, decode_reply
from flowtape.common.messages.engine import GetWorkflow
from flowtape.common.views import ExecutionStarted


def test_a_reply_read_into_a_model_holds_that_model_in_one_pass() -> None:
    started = ExecutionStarted(execution_id="e-1", status="running")
    reply = decode_reply(Reply(correlation_id="c-1", data=started).encode(), ExecutionStarted)
    assert isinstance(reply, Reply) and reply.correlation_id == "c-1"
    assert isinstance(reply.data, ExecutionStarted) and reply.data == started


@pytest.mark.parametrize(
    "sent",
    [
        Reply(error=ErrorInfo(code="not_found", message="workflow w-1 not found")),
        Reply(data={"execution_id": "e-1"}),  # not the model's shape (no status): left as JSON data
    ],
)
def test_what_does_not_fit_the_model_decodes_as_without_it(sent: Reply) -> None:
    read = decode_reply(sent.encode(), ExecutionStarted)
    assert isinstance(read, Reply) and read.model_dump() == decode(sent.encode()).model_dump()


def test_another_message_or_garbage_is_not_taken_for_a_reply() -> None:
    assert isinstance(decode_reply(GetWorkflow(workflow_id="w").encode(), ExecutionStarted), GetWorkflow)
    with pytest.raises(InvalidMessage):
        decode_reply(b'{"type":"common.Reply.v1","body":{"data": ', ExecutionStarted)
