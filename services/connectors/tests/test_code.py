from __future__ import annotations

import textwrap
import time
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, execute_node
from flowtape.connectors.nodes.code import CodeNode


async def run_code(ctx: NodeContext, code: str, items: list[Item], **params: Any) -> list[Item]:
    result = await execute_node(CodeNode(), {"code": textwrap.dedent(code), **params}, ctx, items)
    return result.ports["main"]


async def test_run_maps_items(ctx: NodeContext):
    out = await run_code(
        ctx,
        """
        def run(items):
            return [{"n": item["n"] * 2} for item in items] + [{"count": len(items)}]
        """,
        [{"n": 1}, {"n": 5}],
    )

    assert out == [{"n": 2}, {"n": 10}, {"count": 2}]


async def test_code_is_not_rendered_as_an_expression(ctx: NodeContext):
    out = await run_code(ctx, 'def run(items):\n    return [{"text": "{{ item.n }}"}]\n', [{"n": 1}])

    assert out == [{"text": "{{ item.n }}"}]


async def test_run_with_two_parameters_gets_the_context(ctx: NodeContext):
    out = await run_code(ctx, "def run(items, ctx):\n    return [ctx]\n", [])

    assert out == [
        {
            "execution_id": "exec-1",
            "workflow_id": "wf-1",
            "workflow_version": 3,
            "node_id": "step",
            "attempt": 2,
            "idempotency_key": "exec-1:step:2",
        }
    ]


async def test_async_run_is_awaited_and_keyword_only_parameters_get_no_context(ctx: NodeContext):
    out = await run_code(
        ctx,
        """
        import asyncio

        async def run(items, *, scale=3):
            await asyncio.sleep(0)
            return [{"n": item["n"] * scale} for item in items]
        """,
        [{"n": 2}],
    )

    assert out == [{"n": 6}]


async def test_print_does_not_corrupt_the_output(ctx: NodeContext):
    out = await run_code(
        ctx,
        """
        import os, sys
        def run(items):
            print("[{}] not the result")
            print("to stderr", file=sys.stderr)
            os.write(1, b"raw bytes on fd 1")
            return [{"ok": True}]
        """,
        [],
    )

    assert out == [{"ok": True}]


async def test_exception_names_type_message_and_line(ctx: NodeContext):
    with pytest.raises(NodeError) as failure:
        await run_code(
            ctx,
            """
            def run(items):
                print("about to fail")
                raise ValueError("boom")
            """,
            [],
        )

    assert failure.value.message == "code raised ValueError: boom (line 4)"
    details = failure.value.details
    assert details["logs"] == "about to fail\n"
    assert details["traceback"].splitlines()[1:] == [
        '  File "<code>", line 4, in run',
        '    raise ValueError("boom")',
        "ValueError: boom",
    ]


async def test_time_limit(ctx: NodeContext):
    started = time.monotonic()
    with pytest.raises(NodeError) as failure:
        await run_code(ctx, "def run(items):\n    while True:\n        pass\n", [], timeout_seconds=1)

    assert failure.value.message == "code node exceeded its time limit of 1 s"
    assert time.monotonic() - started < 5


async def test_memory_limit(ctx: NodeContext):
    with pytest.raises(NodeError) as failure:
        await run_code(
            ctx,
            "def run(items):\n    blob = bytearray(500 * 1024 * 1024)\n    return [{'n': len(blob)}]\n",
            [],
            memory_mb=64,
        )

    assert failure.value.message == "code node exceeded its memory limit of 64 MB"


async def test_memory_within_the_limit_is_fine(ctx: NodeContext):
    out = await run_code(
        ctx, "def run(items):\n    return [{'n': len(bytearray(40 * 1024 * 1024))}]\n", [], memory_mb=64
    )

    assert out == [{"n": 40 * 1024 * 1024}]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "def run(items):\n    return {'a': 1}\n",
            "run() must return a list of items (dicts), but it returned a dict",
        ),
        (
            "def run(items):\n    return None\n",
            "run() must return a list of items (dicts), but it returned None",
        ),
        ("def run(items):\n    return [1]\n", "run() must return a list of dicts, but item 0 is a int"),
        ("def run(items):\n    return [{'a': object()}]\n", "not JSON-serializable: Object of type object"),
        ("x = 1\n", "code must define a function run(items)"),
        ("def run(items)\n    pass\n", "code has a syntax error: expected ':' (line 1)"),
    ],
)
async def test_bad_code_or_result_is_a_clear_error(ctx: NodeContext, code: str, message: str):
    with pytest.raises(NodeError) as failure:
        await run_code(ctx, code, [])

    assert message in failure.value.message


async def test_child_sees_no_secrets_and_cannot_write_files(ctx: NodeContext, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FLOWTAPE_SECRET_KEY", "s3cret")

    out = await run_code(
        ctx,
        """
        import os
        def run(items):
            try:
                with open("out.txt", "w") as f:
                    f.write("data")
                wrote = True
            except OSError:
                wrote = False
            return [{"env": sorted(os.environ), "wrote": wrote}]
        """,
        [],
    )

    assert out == [{"env": ["HOME", "LANG", "LC_ALL", "PATH", "TMPDIR"], "wrote": False}]


@pytest.mark.parametrize(
    ("params", "field"), [({"timeout_seconds": 0}, "timeout_seconds"), ({"memory_mb": 8}, "memory_mb")]
)
async def test_limits_are_validated(ctx: NodeContext, params: dict[str, Any], field: str):
    with pytest.raises(NodeError, match=f"invalid parameters for code: {field}"):
        await run_code(ctx, "def run(items):\n    return items\n", [], **params)
