"""What the gateway measures in a request before any parser sees it: JSON nesting of a body, NUL in a URL.

A JSON parser handed a body nested thousands deep recurses until it fails (Python's ``json`` with a
``RecursionError``, pydantic's with "recursion limit exceeded"), so nesting is measured on the text itself, in a
few passes of C-speed byte operations and without building any value: strings are cut out, the brackets left are
reduced innermost pair by innermost pair, and counting stops one level past the limit.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

#: every opening bracket becomes "(", every closing one ")": nesting is all that is measured
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


def is_json(content_type: str | bytes | None) -> bool:
    """Whether a body of this type is parsed as JSON: by FastAPI and by webhooks alike, no type means JSON."""
    if not content_type:
        return True
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    return "json" in text.split(";", 1)[0].lower()


def json_text_depth(raw: bytes, limit: int) -> int:
    """How deeply the JSON text ``raw`` nests objects and lists, counting at most to ``limit + 1``.

    Malformed text is measured as far as its brackets pair up; the parser that reads it later says what is
    wrong with it.
    """
    # inside a string every backslash starts a two-character escape, so dropping escaped backslashes first,
    # then escaped quotes, leaves exactly the quotes that open and close strings
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(_BRACKETS, _NOT_BRACKETS)
    if b"(" * (limit + 1) in brackets:
        return limit + 1
    depth = 0
    while brackets:
        inner = brackets.replace(b"()", b"")  # one pass removes the innermost level, and only that
        if len(inner) == len(brackets):
            return depth
        brackets = inner
        depth += 1
        if depth > limit:
            return depth
    return depth


def nul_parameter(query_string: bytes) -> str | None:
    """The name of the first query parameter whose name or value holds a NUL character, if any."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\\u0000")
    return None
