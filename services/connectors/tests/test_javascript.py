"""The ``code`` node in JavaScript (``"language": "javascript"``): Node.js under the same isolation and limits
as Python, with the same error reporting (issue 11, item 3)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, execute_node
from flowtape.connectors.nodes.code import CodeNode


async def run_js(ctx: NodeContext, code: str, items: list[Item], **params: Any) -> list[Item]:
    params = {"language": "javascript", "code": textwrap.dedent(code), **params}
    result = await execute_node(CodeNode(), params, ctx, items)
    return result.ports["main"]


async def failure_of(ctx: NodeContext, code: str, **params: Any) -> NodeError:
    with pytest.raises(NodeError) as failure:
        await run_js(ctx, code, [{"n": 1}], **params)
    return failure.value


async def test_run_maps_items_and_gets_the_context(ctx: NodeContext) -> None:
    out = await run_js(
        ctx,
        """
        function run(items, ctx) {
          return items.map((item) => ({ n: item.n * 2, node: ctx.node_id, attempt: ctx.attempt }));
        }
        """,
        [{"n": 1}, {"n": 5}],
    )

    assert out == [{"n": 2, "node": "step", "attempt": 2}, {"n": 10, "node": "step", "attempt": 2}]


async def test_async_run_and_module_exports(ctx: NodeContext) -> None:
    out = await run_js(
        ctx,
        """
        const { setTimeout: sleep } = require("node:timers/promises");
        module.exports.run = async (items) => {
          await sleep(5);
          return [{ count: items.length }];
        };
        """,
        [{}, {}, {}],
    )

    assert out == [{"count": 3}]


async def test_built_in_modules_only(ctx: NodeContext) -> None:
    out = await run_js(
        ctx,
        """
        const crypto = require("crypto");
        function run(items) {
          let npm;
          try { require("npm"); npm = "loaded"; } catch (error) { npm = error.code; }
          return [{ digest: crypto.createHash("sha256").update("x").digest("hex").slice(0, 8), npm }];
        }
        """,
        [],
    )

    assert out == [{"digest": "2d711642", "npm": "MODULE_NOT_FOUND"}]


async def test_printing_does_not_corrupt_the_output(ctx: NodeContext) -> None:
    out = await run_js(
        ctx,
        """
        function run(items) {
          console.log("[{}] not the result");
          process.stdout.write("written to stdout\\n");
          require("fs").writeSync(1, "raw bytes on fd 1\\n");
          console.error("to stderr");
          return [{ ok: true }];
        }
        """,
        [],
    )

    assert out == [{"ok": True}]


async def test_printed_text_is_in_the_error_details(ctx: NodeContext) -> None:
    failure = await failure_of(ctx, 'function run(items) {\n  console.log("about to fail");\n  throw new Error("x")\n}')

    assert failure.details["logs"] == "about to fail\n"


async def test_exception_names_type_message_and_line(ctx: NodeContext) -> None:
    failure = await failure_of(
        ctx,
        """
        function lookup(item) {
          return item.customer.id;
        }
        function run(items) {
          return items.map(lookup);
        }
        """,
    )

    assert failure.message == "code raised TypeError: Cannot read properties of undefined (reading 'id') (line 3)"
    assert failure.details["exception"] == "TypeError"
    assert failure.details["line"] == 3
    lines = failure.details["traceback"].splitlines()
    assert lines[0] == "TypeError: Cannot read properties of undefined (reading 'id')"
    assert lines[1].strip().startswith("at lookup (<code>:3:")
    assert all("<code>" in line for line in lines[1:])


async def test_throwing_a_non_error_is_reported_too(ctx: NodeContext) -> None:
    failure = await failure_of(ctx, 'function run() { throw "no customer"; }')

    assert failure.message == "code raised string: no customer"


async def test_syntax_error_names_the_line(ctx: NodeContext) -> None:
    failure = await failure_of(ctx, "function run(items) {\n  return [\n}\n")

    assert failure.message == "code has a syntax error: Unexpected token '}' (line 3)"


async def test_time_limit(ctx: NodeContext) -> None:
    failure = await failure_of(ctx, "function run() { while (true) {} }", timeout_seconds=1)

    assert failure.message == "code node exceeded its time limit of 1 s"


@pytest.mark.parametrize(
    "code",
    [
        "function run() { const held = []; while (true) held.push(new Array(1e6).fill(1.5)); }",
        "function run() { const held = []; while (true) held.push(Buffer.alloc(64 * 1024 * 1024)); }",
    ],
    ids=["heap", "buffers"],
)
async def test_memory_limit(ctx: NodeContext, code: str) -> None:
    failure = await failure_of(ctx, code, memory_mb=64)

    assert failure.message == "code node exceeded its memory limit of 64 MB"


async def test_memory_within_the_limit_is_fine(ctx: NodeContext) -> None:
    out = await run_js(
        ctx, "function run() { return [{ n: Buffer.alloc(40 * 1024 * 1024).length }]; }", [], memory_mb=64
    )

    assert out == [{"n": 40 * 1024 * 1024}]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "function run() { return { a: 1 }; }",
            "run() must return an array of items (objects), but it returned an object",
        ),
        ("function run() { }", "run() must return an array of items (objects), but it returned undefined"),
        ("function run() { return [1]; }", "run() must return an array of objects, but item 0 is a number"),
        ("function run() { return [[]]; }", "run() must return an array of objects, but item 0 is an array"),
        ("function run() { return [{ a: 1n }]; }", "not JSON-serializable: Do not know how to serialize a BigInt"),
        ("const x = 1;", "code must define a function run(items)"),
    ],
)
async def test_bad_code_or_result_is_a_clear_error(ctx: NodeContext, code: str, message: str) -> None:
    failure = await failure_of(ctx, code)

    assert message in failure.message


async def test_environment_is_empty_and_files_outside_tmp_cannot_be_written(ctx: NodeContext) -> None:
    out = await run_js(
        ctx,
        """
        const fs = require("fs");
        function run() {
          let wrote;
          try { fs.writeFileSync("out.txt", "data"); wrote = true; } catch (error) { wrote = false; }
          fs.writeFileSync("/tmp/scratch", "kept");
          return [{ env: Object.keys(process.env).sort(), wrote, tmp: fs.readFileSync("/tmp/scratch", "utf8") }];
        }
        """,
        [],
    )

    assert out == [{"env": ["HOME", "LANG", "LC_ALL", "PATH", "TMPDIR"], "wrote": False, "tmp": "kept"}]


async def test_an_unknown_language_is_refused(ctx: NodeContext) -> None:
    with pytest.raises(NodeError, match="invalid parameters for code: language"):
        await execute_node(CodeNode(), {"language": "ruby", "code": "x"}, ctx, [])
