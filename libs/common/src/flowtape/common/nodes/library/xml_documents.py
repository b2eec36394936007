"""XML to and from items, in the convention n8n and xmltodict users know.

An element becomes an object: attributes as ``@name``, text as ``#text`` (or the element is just its text when
it has neither attributes nor children), repeated child elements as a list. Parsing goes through defusedxml
with DTDs refused, so entity expansion ("billion laughs") and external entities cannot happen; writing goes
through :mod:`xml.etree.ElementTree`, which escapes text and attributes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as parse_safely
from pydantic import Field

from flowtape.common.nodes.library.paths import MISSING, FieldPath, describe_value, field_error, get_path, set_path
from flowtape.common.nodes.library.transforms import FieldNode, FieldParams
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = ["XML_NODES", "ParseXmlNode", "WriteXmlNode", "element_to_value", "value_to_element"]

_NAMESPACE = re.compile(r"^\{[^}]*\}")
_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


def _local(tag: str, keep_namespaces: bool) -> str:
    return tag if keep_namespaces else _NAMESPACE.sub("", tag)


def element_to_value(element: ElementTree.Element, keep_namespaces: bool = False) -> Any:
    """One element as JSON (iteratively deep only as the document is; defusedxml bounds the parse itself)."""
    result: dict[str, Any] = {f"@{_local(k, keep_namespaces)}": v for k, v in element.attrib.items()}
    for child in element:
        name = _local(child.tag, keep_namespaces)
        value = element_to_value(child, keep_namespaces)
        if name in result:
            existing = result[name]
            result[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            result[name] = value
    text = (element.text or "").strip()
    if not result:
        return text or None
    if text:
        result["#text"] = text
    return result


class ParseXmlParams(FieldParams):
    keep_namespaces: bool = Field(default=False, description="Keep '{namespace}' in names instead of dropping it.")


class ParseXmlNode(FieldNode[ParseXmlParams]):
    type = "parse_xml"
    category = "files"
    description = "Parses XML text into an object (@attributes, #text, repeated elements as lists); no DTDs."
    Params = ParseXmlParams
    examples = (
        NodeExample(
            title="An order document",
            params={"field": "body", "to": "order"},
            input=[{"body": '<order id="7"><line sku="A">2</line><line sku="B">1</line><note>gift</note></order>'}],
            output={
                "main": [
                    {
                        "body": '<order id="7"><line sku="A">2</line><line sku="B">1</line><note>gift</note></order>',
                        "order": {
                            "order": {
                                "@id": "7",
                                "line": [{"@sku": "A", "#text": "2"}, {"@sku": "B", "#text": "1"}],
                                "note": "gift",
                            }
                        },
                    }
                ]
            },
        ),
    )

    def transform(self, value: Any, params: ParseXmlParams) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"expected XML text, got {describe_value(value)}")
        try:
            root = parse_safely(value, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException as exc:
            raise ValueError(f"refused XML: {type(exc).__name__} (DTDs and entities are not allowed)") from None
        except (ParseError, ElementTree.ParseError) as exc:
            raise ValueError(f"invalid XML: {exc}") from None
        except RecursionError:
            raise ValueError("the XML is nested too deeply") from None
        return {_local(root.tag, params.keep_namespaces): element_to_value(root, params.keep_namespaces)}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def value_to_element(name: str, value: Any, parent: ElementTree.Element | None = None) -> list[ElementTree.Element]:
    """The element(s) for ``value`` under ``name`` (a list gives one element per entry)."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a valid XML element name")
    if isinstance(value, list):
        return [element for entry in value for element in value_to_element(name, entry, parent)]
    element = ElementTree.Element(name) if parent is None else ElementTree.SubElement(parent, name)
    if isinstance(value, dict):
        for key, child in value.items():
            if key.startswith("@"):
                if not _NAME.match(key[1:]):
                    raise ValueError(f"{key!r} is not a valid XML attribute name")
                element.set(key[1:], _text(child))
            elif key == "#text":
                element.text = _text(child)
            else:
                value_to_element(key, child, element)
    else:
        element.text = _text(value)
    return [element]


class WriteXmlParams(NodeParams):
    field: FieldPath | None = Field(default=None, description="The field to write as XML; by default the whole item.")
    root: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The root element's name; without it the value must be an object with exactly one key "
        "(as parse_xml makes), which names the root.",
    )
    to: FieldPath = Field(default="xml", description="The field to write the XML text to.")
    declaration: bool = Field(default=True, description="Start with <?xml version='1.0' encoding='utf-8'?>.")
    indent: bool = Field(default=False, description="Indent nested elements.")


class WriteXmlNode(NodeType[WriteXmlParams]):
    type = "write_xml"
    category = "files"
    description = "Writes an item (or a field) as XML text, the inverse of parse_xml."
    Params = WriteXmlParams
    pure = True
    examples = (
        NodeExample(
            title="An item as an XML document",
            params={"field": "order", "declaration": False},
            input=[{"order": {"order": {"@id": "7", "line": [{"@sku": "A", "#text": "2"}, {"@sku": "B"}]}}}],
            output={
                "main": [
                    {
                        "order": {"order": {"@id": "7", "line": [{"@sku": "A", "#text": "2"}, {"@sku": "B"}]}},
                        "xml": '<order id="7"><line sku="A">2</line><line sku="B" /></order>',
                    }
                ]
            },
        ),
    )

    async def run_item(self, ctx: NodeContext, params: WriteXmlParams, item: Item) -> NodeResult:
        where = params.field or "(the item)"
        value: Any = item if params.field is None else get_path(item, params.field)
        if value is MISSING:
            raise field_error(where, "is missing")
        if params.root is None:
            if not (isinstance(value, dict) and len(value) == 1):
                raise field_error(where, "needs exactly one top-level key to name the root element (or set root)")
            name, value = next(iter(value.items()))
        else:
            name = params.root
        try:
            elements = value_to_element(name, value)
        except ValueError as exc:
            raise field_error(where, str(exc)) from exc
        if len(elements) != 1:
            raise field_error(where, "a list cannot be the root element (set root and wrap it)")
        if params.indent:
            ElementTree.indent(elements[0])
        text = ElementTree.tostring(elements[0], encoding="unicode", xml_declaration=False)
        if params.declaration:
            text = "<?xml version='1.0' encoding='utf-8'?>\n" + text
        return NodeResult.on([set_path(item, params.to, text)])


XML_NODES: tuple[type[NodeType[Any]], ...] = (ParseXmlNode, WriteXmlNode)
