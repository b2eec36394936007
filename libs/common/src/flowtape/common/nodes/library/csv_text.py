"""CSV in and out: ``parse_csv`` turns CSV text into one item per row, ``write_csv`` all items into CSV text.

Both use Python's :mod:`csv` (RFC 4180 quoting, quoted line breaks, doubled quotes). Parsed cells stay text
unless ``infer_types`` reads numbers and booleans; written cells holding objects or lists are JSON text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any, Literal

from pydantic import Field

from flowtape.common.errors import NodeError
from flowtape.common.nodes.library.paths import MISSING, FieldPath, describe_value, field_error, get_path
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = ["CSV_NODES", "ParseCsvNode", "WriteCsvNode"]

_QUOTING: dict[str, Literal[0, 1, 2, 3]] = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "non_numeric": csv.QUOTE_NONNUMERIC,
    "none": csv.QUOTE_NONE,
}
#: the largest one cell may be (the csv module's own guard, raised from its default of 128 KiB)
MAX_CELL = 16 * 1024 * 1024


class ParseCsvParams(NodeParams):
    field: FieldPath = Field(default="data", description="The field holding the CSV text.")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="The character between cells.")
    quote: str = Field(default='"', min_length=1, max_length=1, description="The character quoting cells.")
    header: bool = Field(
        default=True,
        description="The first row names the columns; without it columns are named column_1, column_2...",
    )
    skip_empty_lines: bool = Field(default=True)
    trim: bool = Field(default=False, description="Strip whitespace around cells.")
    infer_types: bool = Field(
        default=False, description="Read cells like 12, 3.5, true and false as numbers and booleans."
    )


_INTEGER = re.compile(r"[+-]?\d{1,300}")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d{1,3})?")


def _inferred(cell: str) -> Any:
    """Numbers and booleans as JSON would have them; anything else (nan, inf, 1,5) stays text."""
    if cell in ("true", "false", "TRUE", "FALSE", "True", "False"):
        return cell.lower() == "true"
    if _INTEGER.fullmatch(cell):
        return int(cell)
    if _DECIMAL.fullmatch(cell):
        return float(cell)
    return cell


class ParseCsvNode(NodeType[ParseCsvParams]):
    type = "parse_csv"
    category = "files"
    description = "Parses CSV text from a field into one item per row (delimiter, header, quoting, types)."
    Params = ParseCsvParams
    pure = True
    examples = (
        NodeExample(
            title="Rows with a header, numbers read",
            params={"field": "body", "infer_types": True},
            input=[{"body": 'sku,qty,note\nA-1,2,"red, large"\nB-2,10,\n'}],
            output={"main": [{"sku": "A-1", "qty": 2, "note": "red, large"}, {"sku": "B-2", "qty": 10, "note": ""}]},
        ),
        NodeExample(
            title="Semicolons, no header",
            params={"field": "body", "delimiter": ";", "header": False},
            input=[{"body": "1;Ann\n2;Bob"}],
            output={"main": [{"column_1": "1", "column_2": "Ann"}, {"column_1": "2", "column_2": "Bob"}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: ParseCsvParams, item: Item) -> NodeResult:
        text = get_path(item, params.field)
        if not isinstance(text, str):
            raise field_error(params.field, f"expected CSV text, got {describe_value(text)}")
        csv.field_size_limit(MAX_CELL)
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=params.delimiter, quotechar=params.quote, strict=True
        )
        rows: list[Item] = []
        columns: list[str] | None = None
        try:
            for row in reader:
                if params.skip_empty_lines and not any(cell.strip() for cell in row):
                    continue
                cells = [cell.strip() for cell in row] if params.trim else row
                if params.header and columns is None:
                    columns = _unique_names(cells)
                    continue
                names = columns or []
                if len(cells) > len(names):
                    names = names + [f"column_{index + 1}" for index in range(len(names), len(cells))]
                values = [_inferred(cell) for cell in cells] if params.infer_types else cells
                record: Item = dict(zip(names, values, strict=False))
                if columns is not None:
                    for name in columns[len(cells) :]:
                        record[name] = None
                rows.append(record)
        except csv.Error as exc:
            raise field_error(params.field, f"invalid CSV at line {reader.line_num}: {exc}") from None
        ctx.check_output(rows, f"the rows parsed from field {params.field!r}")
        return NodeResult.on(rows)


def _unique_names(cells: list[str]) -> list[str]:
    names: list[str] = []
    for index, cell in enumerate(cells):
        name = cell or f"column_{index + 1}"
        while name in names:
            name = f"{name}_{index + 1}"
        names.append(name)
    return names


class WriteCsvParams(NodeParams):
    columns: list[FieldPath] = Field(
        default_factory=list,
        description="The columns, in order, as field paths; by default every top-level key, in order of appearance.",
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    header: bool = Field(default=True, description="Write the column names as the first row.")
    quoting: Literal["minimal", "all", "non_numeric", "none"] = Field(
        default="minimal", description="Which cells are quoted: only when needed, all, all but numbers, or none."
    )
    line_ending: Literal["\n", "\r\n"] = Field(default="\n", description="'\\n', or '\\r\\n' as RFC 4180 has it.")
    to: str = Field(default="data", min_length=1, max_length=500, description="The field of the one output item.")


def _cell(value: Any) -> Any:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


class WriteCsvNode(NodeType[WriteCsvParams]):
    type = "write_csv"
    category = "files"
    description = "Writes all items as CSV text into one item (columns, delimiter, header, quoting)."
    Params = WriteCsvParams
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="Two rows with a header",
            params={"columns": ["sku", "qty", "customer.name"]},
            input=[{"sku": "A-1", "qty": 2, "customer": {"name": "Ann, Jr."}}, {"sku": "B-2", "qty": 10}],
            output={"main": [{"data": 'sku,qty,customer.name\nA-1,2,"Ann, Jr."\nB-2,10,\n'}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: WriteCsvParams, items: list[Item]) -> NodeResult:
        columns = params.columns or list(dict.fromkeys(key for item in items for key in item))
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=params.delimiter,
            quoting=_QUOTING[params.quoting],
            lineterminator=params.line_ending,
            escapechar="\\" if params.quoting == "none" else None,
        )
        try:
            if params.header:
                writer.writerow(columns)
            for index, item in enumerate(items):
                if params.columns:
                    row = [_cell(get_path(item, column)) for column in columns]
                else:
                    row = [_cell(item.get(column, MISSING)) for column in columns]
                writer.writerow(row)
                if buffer.tell() > ctx.limits.max_items_bytes:
                    raise NodeError(f"item {index}: the CSV text is larger than the item size limit")
        except csv.Error as exc:
            raise NodeError(f"cannot write CSV: {exc}") from None
        return NodeResult.on([{params.to: buffer.getvalue()}])


CSV_NODES: tuple[type[NodeType[Any]], ...] = (ParseCsvNode, WriteCsvNode)
