"""Text nodes: change case, trim, pad, replace (literal or regex), split, join, slugify, truncate, and
render a Jinja text template over the item. Regexes are bounded in time (see :mod:`.patterns`)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import Field
from slugify import slugify

from flowtape.common.expressions import render_template
from flowtape.common.nodes.library.paths import set_path
from flowtape.common.nodes.library.patterns import compile_pattern
from flowtape.common.nodes.library.transforms import FieldNode, FieldParams, expect_text
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = [
    "TEXT_NODES",
    "ChangeCaseNode",
    "JoinTextNode",
    "PadTextNode",
    "RenderTemplateNode",
    "ReplaceTextNode",
    "SlugifyNode",
    "SplitTextNode",
    "TrimTextNode",
    "TruncateTextNode",
]

#: the longest text a padding may build
MAX_PAD_WIDTH = 100_000


@cache
def _word_pattern() -> Any:
    """Words by Unicode class; compiled on first use, as the ``regex`` module loads only then (see .patterns)."""
    import regex

    return regex.compile(r"[\p{Lu}]?[\p{Ll}\p{Nd}]+|[\p{Lu}\p{Nd}]+(?![\p{Ll}])|[\p{Lu}]")


def _words(text: str) -> list[str]:
    return [word for word in _word_pattern().findall(text) if word]


class ChangeCaseParams(FieldParams):
    case: Literal["upper", "lower", "title", "sentence", "snake", "kebab", "camel", "pascal"] = Field(
        description="upper: ABC; lower: abc; title: Each Word; sentence: First word only; snake: a_b; "
        "kebab: a-b; camel: aB; pascal: AB (words are found at spaces, punctuation and case changes)."
    )


class ChangeCaseNode(FieldNode[ChangeCaseParams]):
    type = "change_case"
    category = "text"
    description = "Changes the case of a text field: upper, lower, title, sentence, snake_case, kebab-case, camelCase."
    Params = ChangeCaseParams
    examples = (
        NodeExample(
            title="A name to snake_case",
            params={"field": "name", "case": "snake", "to": "key"},
            input=[{"name": "Order Total EUR"}],
            output={"main": [{"name": "Order Total EUR", "key": "order_total_eur"}]},
        ),
    )

    def transform(self, value: Any, params: ChangeCaseParams) -> Any:
        text = expect_text(value)
        case = params.case
        if case == "upper":
            return text.upper()
        if case == "lower":
            return text.lower()
        if case == "title":
            return text.title()
        if case == "sentence":
            return text[:1].upper() + text[1:].lower()
        words = [word.lower() for word in _words(text)]
        if case == "snake":
            return "_".join(words)
        if case == "kebab":
            return "-".join(words)
        capitalized = [word[:1].upper() + word[1:] for word in words]
        if case == "pascal":
            return "".join(capitalized)
        return "".join(words[:1] + capitalized[1:])


class TrimTextParams(FieldParams):
    side: Literal["both", "start", "end"] = Field(default="both", description="Which ends to trim.")
    characters: str | None = Field(
        default=None, min_length=1, max_length=100, description="The characters to strip; by default whitespace."
    )


class TrimTextNode(FieldNode[TrimTextParams]):
    type = "trim_text"
    category = "text"
    description = "Strips whitespace (or the given characters) from the start and/or end of a text field."
    Params = TrimTextParams
    examples = (
        NodeExample(
            title="Trim a code",
            params={"field": "code"},
            input=[{"code": "  AB-12 \n"}],
            output={"main": [{"code": "AB-12"}]},
        ),
    )

    def transform(self, value: Any, params: TrimTextParams) -> Any:
        text = expect_text(value)
        if params.side == "start":
            return text.lstrip(params.characters)
        if params.side == "end":
            return text.rstrip(params.characters)
        return text.strip(params.characters)


class PadTextParams(FieldParams):
    width: int = Field(ge=0, le=MAX_PAD_WIDTH, description="The length to pad to; longer text is left as it is.")
    side: Literal["start", "end", "both"] = Field(default="start", description="Where the fill goes.")
    fill: str = Field(default=" ", min_length=1, max_length=1, description="One character to pad with.")


class PadTextNode(FieldNode[PadTextParams]):
    type = "pad_text"
    category = "text"
    description = "Pads a text field to a width, at the start, the end or both sides (numbers are padded as text)."
    Params = PadTextParams
    examples = (
        NodeExample(
            title="Zero-pad an invoice number",
            params={"field": "number", "width": 6, "fill": "0"},
            input=[{"number": 42}],
            output={"main": [{"number": "000042"}]},
        ),
    )

    def transform(self, value: Any, params: PadTextParams) -> Any:
        text = expect_text(value)
        if params.side == "start":
            return text.rjust(params.width, params.fill)
        if params.side == "end":
            return text.ljust(params.width, params.fill)
        return text.center(params.width, params.fill)


class ReplaceTextParams(FieldParams):
    find: str = Field(min_length=1, max_length=1_000, description="The text (or regular expression) to find.")
    replace: str = Field(
        default="",
        max_length=10_000,
        description="What to put instead; with regex, \\1 or \\g<name> insert a group.",
    )
    regex: bool = Field(default=False, description="Read 'find' as a regular expression (Python syntax).")
    ignore_case: bool = Field(default=False, description="Match regardless of case.")
    count: int = Field(default=0, ge=0, description="Replace at most this many occurrences; 0: all of them.")


class ReplaceTextNode(FieldNode[ReplaceTextParams]):
    type = "replace_text"
    category = "text"
    description = "Replaces literal text or regular-expression matches in a text field (regexes are time-bounded)."
    Params = ReplaceTextParams
    examples = (
        NodeExample(
            title="Mask digits with a regex",
            params={"field": "card", "find": r"\d(?=\d{4})", "replace": "*", "regex": True},
            input=[{"card": "4111111111111111"}],
            output={"main": [{"card": "************1111"}]},
        ),
        NodeExample(
            title="Replace a word, ignoring case",
            params={"field": "text", "find": "colour", "replace": "color", "ignore_case": True},
            input=[{"text": "Colour and colour"}],
            output={"main": [{"text": "color and color"}]},
        ),
    )

    def transform(self, value: Any, params: ReplaceTextParams) -> Any:
        text = expect_text(value)
        where = f"field {params.field!r}"
        if params.regex:
            pattern = compile_pattern(params.find, params.ignore_case)
        else:
            import regex

            pattern = compile_pattern(regex.escape(params.find), params.ignore_case)
        replacement = params.replace if params.regex else params.replace.replace("\\", "\\\\")
        result = pattern.sub(replacement, text, params.count, where=where)
        if len(result) > max(len(text), 1) * 2 + 1_000_000:
            raise ValueError("the replacement would make the text too large")
        return result


class SplitTextParams(FieldParams):
    separator: str = Field(default=",", min_length=1, max_length=1_000, description="What to split at.")
    regex: bool = Field(default=False, description="Read the separator as a regular expression.")
    max_splits: int = Field(default=0, ge=0, description="Split at most this many times; 0: everywhere.")
    trim: bool = Field(default=True, description="Strip whitespace around each part.")
    drop_empty: bool = Field(default=True, description="Leave out empty parts.")


class SplitTextNode(FieldNode[SplitTextParams]):
    type = "split_text"
    category = "text"
    description = "Splits a text field into a list of parts at a separator (literal or regex)."
    Params = SplitTextParams
    examples = (
        NodeExample(
            title="Tags from a comma-separated list",
            params={"field": "tags"},
            input=[{"tags": "red, green,, blue "}],
            output={"main": [{"tags": ["red", "green", "blue"]}]},
        ),
    )

    def transform(self, value: Any, params: SplitTextParams) -> Any:
        text = expect_text(value)
        if params.regex:
            parts = compile_pattern(params.separator).split(text, params.max_splits, where=f"field {params.field!r}")
            parts = [part for part in parts if isinstance(part, str)]
        else:
            parts = text.split(params.separator, params.max_splits or -1)
        if params.trim:
            parts = [part.strip() for part in parts]
        if params.drop_empty:
            parts = [part for part in parts if part]
        return parts


class JoinTextParams(FieldParams):
    separator: str = Field(default=", ", max_length=1_000, description="What to put between the parts.")


class JoinTextNode(FieldNode[JoinTextParams]):
    type = "join_text"
    category = "text"
    description = "Joins a list field into one text (objects and lists as JSON, null as empty text)."
    Params = JoinTextParams
    examples = (
        NodeExample(
            title="Join names",
            params={"field": "names", "separator": " & "},
            input=[{"names": ["Ada", "Grace", "Edsger"]}],
            output={"main": [{"names": "Ada & Grace & Edsger"}]},
        ),
    )

    def transform(self, value: Any, params: JoinTextParams) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        parts = [
            "" if part is None else part if isinstance(part, str) else json.dumps(part, ensure_ascii=False)
            for part in value
        ]
        return params.separator.join(parts)


class SlugifyParams(FieldParams):
    separator: str = Field(default="-", max_length=5, description="What joins the words.")
    max_length: int = Field(default=0, ge=0, description="Cut the slug at a word boundary to this length; 0: no limit.")
    lowercase: bool = Field(default=True, description="Lower-case the slug.")


class SlugifyNode(FieldNode[SlugifyParams]):
    type = "slugify"
    category = "text"
    description = "Turns a text field into a URL slug, transliterating accents and other scripts to ASCII."
    Params = SlugifyParams
    examples = (
        NodeExample(
            title="A title to a slug",
            params={"field": "title", "to": "slug"},
            input=[{"title": "Crème Brûlée: 3 façons!"}],
            output={"main": [{"title": "Crème Brûlée: 3 façons!", "slug": "creme-brulee-3-facons"}]},
        ),
    )

    def transform(self, value: Any, params: SlugifyParams) -> Any:
        return slugify(
            expect_text(value),
            separator=params.separator,
            max_length=params.max_length,
            word_boundary=params.max_length > 0,
            lowercase=params.lowercase,
        )


class TruncateTextParams(FieldParams):
    length: int = Field(ge=0, description="The longest the result may be, the ellipsis included.")
    ellipsis: str = Field(default="…", max_length=10, description="Appended when the text was cut.")
    word_boundary: bool = Field(default=False, description="Cut at the last space before the limit, if there is one.")


class TruncateTextNode(FieldNode[TruncateTextParams]):
    type = "truncate_text"
    category = "text"
    description = "Cuts a text field to a maximum length, adding an ellipsis when it was cut."
    Params = TruncateTextParams
    examples = (
        NodeExample(
            title="A preview of 20 characters at a word boundary",
            params={"field": "body", "length": 20, "word_boundary": True, "to": "preview"},
            input=[{"body": "The quick brown fox jumps over the lazy dog"}],
            output={
                "main": [{"body": "The quick brown fox jumps over the lazy dog", "preview": "The quick brown fox…"}]
            },
        ),
    )

    def transform(self, value: Any, params: TruncateTextParams) -> Any:
        text = expect_text(value)
        if len(text) <= params.length:
            return text
        keep = max(params.length - len(params.ellipsis), 0)
        cut = text[:keep]
        if params.word_boundary and not text[keep].isspace() and " " in cut:
            cut = cut[: cut.rindex(" ")]
        return cut.rstrip() + params.ellipsis if keep else params.ellipsis[: params.length]


class RenderTemplateParams(NodeParams):
    template: str = Field(
        min_length=1,
        max_length=100_000,
        description="A Jinja template: {{ item.name }}, {% for line in item.lines %}...{% endfor %}, filters. "
        "In scope: item, trigger, nodes, execution; sandboxed, no I/O, bounded in time and size.",
    )
    to: str = Field(default="text", min_length=1, max_length=500, description="The field to write the text to.")


class RenderTemplateNode(NodeType[RenderTemplateParams]):
    """Renders a whole Jinja template (statements too) per item, in the expressions' sandbox."""

    type = "render_template"
    category = "text"
    description = "Renders a Jinja text template (loops, conditions, filters) over each item into a text field."
    Params = RenderTemplateParams
    pure = True
    raw_params: ClassVar[tuple[str, ...]] = ("template",)
    examples = (
        NodeExample(
            title="An order summary",
            params={
                "template": "Order {{ item.id }}:{% for line in item.lines %} {{ line.qty }}x {{ line.sku }}"
                "{% endfor %}",
                "to": "summary",
            },
            input=[{"id": 7, "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]}],
            output={
                "main": [
                    {
                        "id": 7,
                        "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}],
                        "summary": "Order 7: 2x A 1x B",
                    }
                ]
            },
        ),
    )

    async def run_item(self, ctx: NodeContext, params: RenderTemplateParams, item: Item) -> NodeResult:
        scope = {
            "item": item,
            "trigger": ctx.trigger,
            "nodes": {node: {"output": out} for node, out in ctx.node_outputs.items()},
            "execution": {
                "id": ctx.execution_id,
                "workflow_id": ctx.workflow_id,
                "workflow_version": ctx.workflow_version,
            },
        }
        text = render_template(params.template, scope, max_length=ctx.limits.max_items_bytes)
        return NodeResult.on([set_path(item, params.to, text)])


TEXT_NODES: tuple[type[NodeType[Any]], ...] = (
    ChangeCaseNode,
    TrimTextNode,
    PadTextNode,
    ReplaceTextNode,
    SplitTextNode,
    JoinTextNode,
    SlugifyNode,
    TruncateTextNode,
    RenderTemplateNode,
)
