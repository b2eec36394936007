"""encode, hash, uuid, random, CSV, XML, HTML and JSON Schema validation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.limits import Limits
from flowtape.common.nodes.library.csv_text import ParseCsvNode, WriteCsvNode
from flowtape.common.nodes.library.encoding import EncodeNode, HashNode
from flowtape.common.nodes.library.generators import RandomNode, UuidNode
from flowtape.common.nodes.library.html_pages import ExtractHtmlNode
from flowtape.common.nodes.library.schemas import ValidateSchemaNode
from flowtape.common.nodes.library.xml_documents import ParseXmlNode, WriteXmlNode
from flowtape.common.nodes.sdk import NodeType
from flowtape.testing import run_node, test_context


async def value(node: NodeType[Any], value: Any, **params: Any) -> Any:
    ports = await run_node(node, params={"field": "v", **params}, items=[{"v": value}])
    return ports["main"][0]["v"]


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [("base64", "w6l+Pz8="), ("base64url", "w6l-Pz8="), ("hex", "c3a97e3f3f"), ("url", "%C3%A9~%3F%3F")],
)
async def test_encode_round_trips(encoding: str, encoded: str) -> None:
    assert await value(EncodeNode(), "é~??", encoding=encoding) == encoded
    assert await value(EncodeNode(), encoded, encoding=encoding, action="decode") == "é~??"


async def test_decode_errors_name_the_field() -> None:
    with pytest.raises(NodeError, match=r"field 'v': not valid base64"):
        await value(EncodeNode(), "@@@", action="decode")
    with pytest.raises(NodeError, match=r"field 'v': the decoded bytes are not UTF-8 text"):
        await value(EncodeNode(), "/w==", action="decode")
    with pytest.raises(NodeError, match=r"invalid parameters for encode: encoding"):
        await value(EncodeNode(), "x", encoding="rot13")


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        ("md5", "900150983cd24fb0d6963f7d28e17f72"),
        ("sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "sha512",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd"
            "454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ],
)
async def test_hash_known_digests(algorithm: str, digest: str) -> None:
    assert await value(HashNode(), "abc", algorithm=algorithm) == digest


async def test_hash_base64_and_bad_input() -> None:
    assert await value(HashNode(), "abc", output="base64") == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    with pytest.raises(NodeError, match=r"field 'v': expected text, got an object"):
        await value(HashNode(), {"a": 1})


async def test_uuids() -> None:
    items = [{}, {}, {}]
    v4 = await run_node(UuidNode(), items=items)
    ids = [uuid.UUID(item["id"]) for item in v4["main"]]
    assert {i.version for i in ids} == {4} and len(set(ids)) == 3
    v7 = await run_node(UuidNode(), params={"version": 7, "to": "key"}, items=items)
    keys = [item["key"] for item in v7["main"]]
    assert {uuid.UUID(k).version for k in keys} == {7} and keys == sorted(keys)
    seeded = [await run_node(UuidNode(), params={"seed": 1}, items=items) for _ in range(2)]
    assert seeded[0] == seeded[1]
    with pytest.raises(NodeError, match=r"a seed is only for version 4"):
        await run_node(UuidNode(), params={"version": 7, "seed": 1}, items=items)
    with pytest.raises(NodeError, match=r"invalid parameters for uuid: version"):
        await run_node(UuidNode(), params={"version": 1}, items=items)


async def test_random_values() -> None:
    items: list[dict[str, Any]] = [{} for _ in range(50)]
    ints = await run_node(RandomNode(), params={"min": 1, "max": 3}, items=items)
    assert {item["random"] for item in ints["main"]} <= {1, 2, 3}
    strings = await run_node(RandomNode(), params={"kind": "string", "length": 8, "alphabet": "hex"}, items=items)
    assert all(len(i["random"]) == 8 and set(i["random"]) <= set("0123456789abcdef") for i in strings["main"])
    choice = await run_node(RandomNode(), params={"kind": "choice", "choices": ["a", {"b": 1}]}, items=items)
    assert all(i["random"] in ("a", {"b": 1}) for i in choice["main"])
    floats = await run_node(RandomNode(), params={"kind": "float", "min": 0.5, "max": 0.6, "seed": 3}, items=items)
    again = await run_node(RandomNode(), params={"kind": "float", "min": 0.5, "max": 0.6, "seed": 3}, items=items)
    assert floats == again and all(0.5 <= i["random"] <= 0.6 for i in floats["main"])
    with pytest.raises(NodeError, match=r"min must not be greater than max"):
        await run_node(RandomNode(), params={"min": 5, "max": 1}, items=items)
    with pytest.raises(NodeError, match=r"kind 'choice' needs a non-empty 'choices' list"):
        await run_node(RandomNode(), params={"kind": "choice"}, items=items)
    too_big = test_context(limits=Limits(max_items_bytes=10_000))
    with pytest.raises(NodeError, match=r"is larger than"):
        await run_node(RandomNode(), params={"kind": "string", "length": 1000}, items=items, context=too_big)


async def test_parse_csv_quoting_and_ragged_rows() -> None:
    text = 'a;b\n"x;1";"say ""hi"""\n"multi\nline";2;extra\n;\n3\n'
    ports = await run_node(ParseCsvNode(), params={"field": "t", "delimiter": ";"}, items=[{"t": text}])
    assert ports["main"] == [
        {"a": "x;1", "b": 'say "hi"'},
        {"a": "multi\nline", "b": "2", "column_3": "extra"},
        {"a": "3", "b": None},
    ]
    typed = await run_node(
        ParseCsvNode(),
        params={"field": "t", "infer_types": True, "trim": True},
        items=[{"t": "n,f,b,s\n 1 ,2.5,true,1e3x"}],
    )
    assert typed["main"] == [{"n": 1, "f": 2.5, "b": True, "s": "1e3x"}]


async def test_parse_csv_errors() -> None:
    with pytest.raises(NodeError, match=r"item 1: field 'data': expected CSV text, got nothing"):
        await run_node(ParseCsvNode(), items=[{"data": "a\n1"}, {}])
    with pytest.raises(NodeError, match=r"field 'data': invalid CSV at line 2"):
        await run_node(ParseCsvNode(), items=[{"data": 'a,b\n"unclosed,1\n'}])
    with pytest.raises(NodeError, match=r"invalid parameters for parse_csv: delimiter"):
        await run_node(ParseCsvNode(), params={"delimiter": ";;"}, items=[{"data": ""}])


async def test_write_csv_round_trips_through_parse_csv() -> None:
    items = [{"a": "x,1", "b": 'q"uote', "c": None}, {"a": "multi\nline", "b": 2, "c": {"k": [1]}}]
    written = await run_node(WriteCsvNode(), params={"quoting": "all", "line_ending": "\r\n"}, items=items)
    text = written["main"][0]["data"]
    assert text.startswith('"a","b","c"\r\n"x,1","q""uote",""\r\n')
    parsed = await run_node(ParseCsvNode(), items=written["main"])
    assert parsed["main"] == [
        {"a": "x,1", "b": 'q"uote', "c": ""},
        {"a": "multi\nline", "b": "2", "c": '{"k": [1]}'},
    ]
    no_header = await run_node(WriteCsvNode(), params={"header": False, "delimiter": "\t"}, items=[{"a": 1, "b": True}])
    assert no_header["main"] == [{"data": "1\ttrue\n"}]
    with pytest.raises(NodeError, match=r"invalid parameters for write_csv: quoting"):
        await run_node(WriteCsvNode(), params={"quoting": "some"}, items=items)


async def test_xml_round_trip_and_namespaces() -> None:
    xml = '<feed xmlns="urn:x"><entry id="1"><title>A &amp; B</title></entry><entry id="2"/></feed>'
    parsed = await value(ParseXmlNode(), xml)
    assert parsed == {"feed": {"entry": [{"@id": "1", "title": "A & B"}, {"@id": "2"}]}}
    kept = await value(ParseXmlNode(), xml, keep_namespaces=True)
    assert "{urn:x}entry" in kept["{urn:x}feed"]
    written = await run_node(WriteXmlNode(), params={"field": "v", "declaration": False}, items=[{"v": parsed}])
    assert written["main"][0]["xml"] == '<feed><entry id="1"><title>A &amp; B</title></entry><entry id="2" /></feed>'


async def test_xml_refuses_entities_and_bad_documents() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><r>&lol2;</r>'
    with pytest.raises(NodeError, match=r"field 'v': refused XML: DTDForbidden"):
        await value(ParseXmlNode(), bomb)
    external = '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(NodeError, match=r"refused XML"):
        await value(ParseXmlNode(), external)
    with pytest.raises(NodeError, match=r"field 'v': invalid XML"):
        await value(ParseXmlNode(), "<a><b></a>")
    with pytest.raises(NodeError, match=r"needs exactly one top-level key"):
        await run_node(WriteXmlNode(), items=[{"a": 1, "b": 2}])
    with pytest.raises(NodeError, match=r"'1bad' is not a valid XML element name"):
        await run_node(WriteXmlNode(), params={"root": "r"}, items=[{"1bad": 1}])


async def test_write_xml_whole_item_with_root() -> None:
    ports = await run_node(
        WriteXmlNode(), params={"root": "order", "to": "doc", "indent": True}, items=[{"id": 7, "tags": ["a", "b"]}]
    )
    assert ports["main"][0]["doc"] == (
        "<?xml version='1.0' encoding='utf-8'?>\n<order>\n  <id>7</id>\n  <tags>a</tags>\n  <tags>b</tags>\n</order>"
    )


async def test_extract_html() -> None:
    page = "<ul><li class='p'><b>One</b> <i>1 €</i></li><li class='p'>Two</li></ul><a href=/x data-id=9>x</a>"
    ports = await run_node(
        ExtractHtmlNode(),
        params={
            "field": "page",
            "extractions": [
                {"key": "names", "selector": "li.p", "all": True},
                {"key": "first.html", "selector": "li.p b", "value": "html"},
                {"key": "id", "selector": "a", "value": "attribute", "attribute": "data-id"},
                {"key": "none", "selector": "table"},
            ],
        },
        items=[{"page": page}],
    )
    item = ports["main"][0]
    assert item["names"] == ["One 1 €", "Two"]
    assert item["first"] == {"html": "<b>One</b>"}
    assert item["id"] == "9" and item["none"] is None


async def test_extract_html_errors() -> None:
    with pytest.raises(NodeError, match=r"field 'body': expected HTML text"):
        await run_node(ExtractHtmlNode(), params={"extractions": [{"key": "k", "selector": "a"}]}, items=[{}])
    with pytest.raises(NodeError, match=r"field 'k': invalid CSS selector 'a\['"):
        await run_node(
            ExtractHtmlNode(), params={"extractions": [{"key": "k", "selector": "a["}]}, items=[{"body": "<a></a>"}]
        )
    with pytest.raises(NodeError, match=r"needs the attribute's name"):
        await run_node(
            ExtractHtmlNode(),
            params={"extractions": [{"key": "k", "selector": "a", "value": "attribute"}]},
            items=[{"body": "<a></a>"}],
        )


async def test_validate_schema_ports_and_errors() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}, "required": ["n"]}
    ports = await run_node(
        ValidateSchemaNode(),
        params={"schema": schema, "errors_field": "why"},
        items=[{"n": 1}, {"n": 5}, {"n": "x"}, {}],
    )
    assert ports["main"] == [{"n": 1}]
    assert [item["why"] for item in ports["invalid"]] == [
        [{"path": "n", "message": "5 is greater than the maximum of 3"}],
        [{"path": "n", "message": "'x' is not of type 'integer'"}],
        [{"path": "", "message": "'n' is a required property"}],
    ]
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}
    ok = await run_node(ValidateSchemaNode(), params={"schema": draft7}, items=[{"a": 1}])
    assert ok["main"] == [{"a": 1}]
    with pytest.raises(NodeError, match=r"the schema is invalid at type"):
        await run_node(ValidateSchemaNode(), params={"schema": {"type": "integerr"}}, items=[{}])
    with pytest.raises(NodeError, match=r"invalid parameters for validate_schema: schema: Field required"):
        await run_node(ValidateSchemaNode(), params={}, items=[{}])
