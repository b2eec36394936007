"""``extract_html``: values out of an HTML page by CSS selector, with selectolax (the Lexbor HTML5 parser).

selectolax is imported when the node first runs, so services that never extract HTML do not load it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.nodes.library.paths import FieldPath, describe_value, field_error, get_path, set_path
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = ["HTML_NODES", "ExtractHtmlNode", "Extraction"]


class Extraction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: FieldPath = Field(description="The field the value is written to.")
    selector: str = Field(
        min_length=1, max_length=1_000, description="A CSS selector, e.g. 'h1', 'a.next', 'td:nth-child(2)'."
    )
    value: Literal["text", "html", "attribute"] = Field(
        default="text", description="The element's text, its outer HTML, or one of its attributes."
    )
    attribute: str | None = Field(default=None, min_length=1, max_length=200, description="For 'attribute': its name.")
    all: bool = Field(default=False, description="A list of every match instead of the first match (or null).")


class ExtractHtmlParams(NodeParams):
    field: FieldPath = Field(default="body", description="The field holding the HTML (http_request puts it in 'body').")
    extractions: list[Extraction] = Field(min_length=1, max_length=100, description="The values to extract.")
    trim: bool = Field(default=True, description="Strip whitespace around extracted text.")


_PAGE = "<html><body><h1> Prices </h1><a href='/a'>A</a><p><a href='/b'>B</a></p></body></html>"


class ExtractHtmlNode(NodeType[ExtractHtmlParams]):
    type = "extract_html"
    category = "files"
    description = "Extracts text, HTML or attributes from an HTML page by CSS selectors."
    Params = ExtractHtmlParams
    pure = True
    examples = (
        NodeExample(
            title="A title and every link",
            params={
                "extractions": [
                    {"key": "title", "selector": "h1"},
                    {"key": "links", "selector": "a", "value": "attribute", "attribute": "href", "all": True},
                ]
            },
            input=[{"body": _PAGE}],
            output={
                "main": [
                    {
                        "body": _PAGE,
                        "title": "Prices",
                        "links": ["/a", "/b"],
                    }
                ]
            },
        ),
    )

    async def run_item(self, ctx: NodeContext, params: ExtractHtmlParams, item: Item) -> NodeResult:
        from selectolax.lexbor import LexborHTMLParser, SelectolaxError

        page = get_path(item, params.field)
        if not isinstance(page, str):
            raise field_error(params.field, f"expected HTML text, got {describe_value(page)}")
        tree = LexborHTMLParser(page)
        result = item
        for extraction in params.extractions:
            if extraction.value == "attribute" and extraction.attribute is None:
                raise field_error(extraction.key, "value 'attribute' needs the attribute's name")
            try:
                nodes = tree.css(extraction.selector)
            except (SelectolaxError, ValueError) as exc:
                raise field_error(extraction.key, f"invalid CSS selector {extraction.selector!r}: {exc}") from None
            values = [self._value(node, extraction, params.trim) for node in nodes]
            result = set_path(result, extraction.key, values if extraction.all else (values[0] if values else None))
        return NodeResult.on([result])

    @staticmethod
    def _value(node: Any, extraction: Extraction, trim: bool) -> Any:
        if extraction.value == "html":
            return node.html
        if extraction.value == "attribute":
            return node.attributes.get(extraction.attribute)
        text: str = node.text(deep=True)
        return text.strip() if trim else text


HTML_NODES: tuple[type[NodeType[Any]], ...] = (ExtractHtmlNode,)
