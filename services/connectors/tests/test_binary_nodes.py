"""Nodes that take or make files use binary data on items: the e-mail node attaches it, the S3 node uploads it
and downloads into it, and ``http_request`` keeps a non-text answer as binary data (a local SMTP server, moto in
server mode and a local HTTP server stand in for the outside world)."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flowtape.common.binary import is_binary_ref
from flowtape.common.db import async_engine
from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Credential, NodeContext, NodeType, execute_node
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.binaries import BinaryStore, open_blob_store
from flowtape.connectors.completed import SCHEMA
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.email import EmailNode
from flowtape.connectors.nodes.http_request import HttpRequestNode
from flowtape.connectors.nodes.s3 import S3Node
from services.connectors.tests.fakes import LOCAL_SERVERS, Credentials, Inbox, credential, s3_server, smtp_server

SMTP_PASSWORD = f"smtp-{secrets.token_urlsafe(12)}"
S3_SECRET = f"sk-{secrets.token_urlsafe(20)}"
IMAGE = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server("mailer", SMTP_PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    with s3_server("AKIABINARY", S3_SECRET, "flowtape-binary") as url:
        yield url


@pytest.fixture
async def connections() -> AsyncIterator[Connections]:
    connections = Connections(LOCAL_SERVERS)
    yield connections
    await connections.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[BinaryStore]:
    url = f"sqlite:///{tmp_path / 'connectors.db'}"
    engine = async_engine(url, SCHEMA)
    store = BinaryStore(engine, open_blob_store(url, tmp_path))
    await store.create()
    yield store
    await engine.dispose()


def _ctx(store: BinaryStore, *known: Credential, workflow: str = "wf-files") -> NodeContext:
    return NodeContext(
        execution_id="exec-files",
        workflow_id=workflow,
        workflow_version=1,
        node_id="n",
        credentials=Credentials(*known),
        binary_store=store.for_task(workflow, "exec-files"),
    )


async def _run(node: NodeType[Any], params: dict[str, Any], ctx: NodeContext, item: dict[str, Any]) -> Any:
    return (await execute_node(node, params, ctx, [item])).ports["main"]


def _mailer(port: int) -> Credential:
    data = {"host": "127.0.0.1", "port": port, "tls": "require", "username": "mailer", "password": SMTP_PASSWORD}
    return credential("mail", "smtp", {**data, "from_address": "flows@example.com"})


def _storage(url: str) -> Credential:
    return credential(
        "storage", "aws", {"access_key_id": "AKIABINARY", "secret_access_key": S3_SECRET, "endpoint_url": url}
    )


async def test_email_attaches_binary_data_with_its_name_and_type(
    smtp: tuple[Inbox, int], connections: Connections, store: BinaryStore
) -> None:
    inbox, port = smtp
    ctx = _ctx(store, _mailer(port))
    shot = (await ctx.binaries.put(IMAGE, mime_type="image/png", file_name="page.png")).reference()
    await _run(
        EmailNode(connections),
        {
            "credential": "mail",
            "to": "ada@example.com",
            "subject": "The page",
            "text": "attached",
            "attachments": [{"binary": "{{ item.shot }}"}, {"binary": "{{ item.shot }}", "filename": "copy.png"}],
        },
        ctx,
        {"shot": shot},
    )
    _, _, message = inbox.messages[-1]
    parts = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(parts) == {"page.png", "copy.png"}
    assert parts["page.png"].get_content_type() == "image/png"
    assert parts["page.png"].get_content() == IMAGE


async def test_email_refuses_an_attachment_that_is_not_binary_data_of_this_workflow(
    smtp: tuple[Inbox, int], connections: Connections, store: BinaryStore
) -> None:
    _, port = smtp
    theirs = await store.for_task("wf-someone-else", "exec-x").put(IMAGE, mime_type="image/png")
    params = {
        "credential": "mail",
        "to": "ada@example.com",
        "subject": "x",
        "text": "x",
        "attachments": [{"binary": "{{ item.shot }}"}],
    }
    with pytest.raises(NodeError, match=r"attachment 1: binary data .* is not in this workflow's runs"):
        await _run(EmailNode(connections), params, _ctx(store, _mailer(port)), {"shot": theirs.reference()})
    with pytest.raises(NodeError, match=r"attachments\.0\.binary: Input should be a valid dictionary"):
        await _run(EmailNode(connections), params, _ctx(store, _mailer(port)), {"shot": "aGVsbG8="})


async def test_s3_uploads_binary_data_and_downloads_into_it(
    s3_url: str, connections: Connections, store: BinaryStore
) -> None:
    ctx = _ctx(store, _storage(s3_url))
    node = S3Node(ApiCalls(connections))
    shot = (await ctx.binaries.put(IMAGE, mime_type="image/png", file_name="page.png")).reference()
    base = {"credential": "storage", "bucket": "flowtape-binary"}
    [put] = await _run(
        node, {**base, "operation": "put", "key": "shots/page.png", "binary": "{{ item.shot }}"}, ctx, {"shot": shot}
    )
    assert put["size"] == len(IMAGE)
    [got] = await _run(node, {**base, "operation": "get", "key": "shots/page.png", "encoding": "binary"}, ctx, {})
    assert is_binary_ref(got["content"]) and got["content_type"] == "image/png"
    ref = got["content"]["$binary"]
    assert ref["file_name"] == "page.png" and ref["mime_type"] == "image/png" and ref["size"] == len(IMAGE)
    assert (await ctx.binaries.get(got["content"]))[1] == IMAGE


@pytest.fixture(scope="module")
def files_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/report":
                body, headers = (
                    b"%PDF-1.7 fake",
                    {"content-type": "application/pdf", "content-disposition": 'attachment; filename="q3.pdf"'},
                )
            elif self.path == "/logo.png":
                body, headers = IMAGE, {"content-type": "image/png"}
            else:
                body, headers = b"plain words", {"content-type": "text/plain"}
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_http_request_keeps_a_non_text_answer_as_binary_data(
    files_server: str, connections: Connections, store: BinaryStore
) -> None:
    node = HttpRequestNode(connections.http)
    ctx = _ctx(store)
    [logo] = await _run(node, {"url": f"{files_server}/logo.png"}, ctx, {})
    [report] = await _run(node, {"url": f"{files_server}/report"}, ctx, {})
    [forced] = await _run(node, {"url": f"{files_server}/words", "response_format": "binary"}, ctx, {})
    [words] = await _run(node, {"url": f"{files_server}/words"}, ctx, {})

    assert logo["body"]["$binary"]["mime_type"] == "image/png" and logo["body"]["$binary"]["file_name"] == "logo.png"
    assert (await ctx.binaries.get(logo["body"]))[1] == IMAGE
    assert report["body"]["$binary"]["file_name"] == "q3.pdf"
    assert (await ctx.binaries.get(forced["body"]))[1] == b"plain words"
    assert words["body"] == "plain words"
