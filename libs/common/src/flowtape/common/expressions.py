"""Parameter expressions: ``{{ expr }}`` inside node parameters, evaluated in a Jinja2 sandbox.

What a workflow author can rely on (API.md, "Workflows"):

- a string that is exactly one ``{{ expr }}`` (whitespace around it allowed) becomes the expression's native
  value: number, bool, object, list or None; iterators (``items | map(attribute="n")``) become lists;
- text mixed with ``{{ }}`` renders as a string: strings as they are, None as ``""``, anything else as JSON;
- only ``{{ }}`` is special (``{% %}`` and ``{# #}`` are plain text); ``{{ '{{' }}`` writes literal braces;
- ``item.key`` and ``item["key"]`` read keys of objects; a missing key or list index is None (as in n8n),
  an undefined name (``{{ itme.n }}``) is an error; ``x | default(v)`` also replaces None;
- what rendering produces is never rendered again, so data containing ``{{`` stays data;
- evaluation is deterministic (no clock, no randomness) and sandboxed: no I/O, no imports, no private or
  dunder attributes, no mutation of lists or dicts. Size limits on ``+``, ``*``, ``**``, ``~``, ``%``
  formats, ``range``, ``join`` and ``replace``, and refused padding methods (``center``, ``ljust``,
  ``str.format``...) keep a single operation from exhausting memory, and a result larger than
  :data:`~flowtape.common.limits.DEFAULT_MAX_ITEMS_BYTES` as JSON (a list repeating one large string, say) is
  an error before anything serializes it. Whoever stores node output bounds it too (the engine does).

Every failure raises :class:`ExpressionError`, a :class:`~flowtape.common.errors.NodeError` whose message
names the expression. Compiled expressions are cached by their source, so rendering is cheap on the hot path.

:func:`render_template` renders a whole Jinja text template (``{% for %}``, ``{% if %}``, filters) in the same
sandbox, for the ``render_template`` node; because statements can loop, a template is also bounded in time
(:data:`TEMPLATE_TIMEOUT_SECONDS`, checked at every attribute access, call and ``range`` step) and in the
length of what it writes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, MappingView, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from flowtape.common.errors import NodeError
from flowtape.common.limits import DEFAULT_MAX_ITEMS_BYTES, json_size

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "MAX_RESULT_LENGTH",
    "ExpressionError",
    "check_syntax",
    "contains_expression",
    "render",
    "render_template",
]

#: longest accepted source of one expression (the text between ``{{`` and ``}}``)
MAX_EXPRESSION_LENGTH = 10_000
#: most characters or elements that ``+``, ``*``, ``join`` or ``replace`` may build at once
MAX_RESULT_LENGTH = 1_000_000
#: largest integer ``**`` may build, in bits
MAX_POWER_BITS = 100_000

_OPEN = "{{"
_CLOSE = "}}"
#: methods of str/bytes whose output size is chosen by an argument: padding, formatting, translation
_UNSAFE_TEXT_METHODS = frozenset(
    {
        "center",
        "ljust",
        "rjust",
        "zfill",
        "expandtabs",
        "format",
        "format_map",
        "join",
        "replace",
        "translate",
    }
)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_MAX_FORMAT_WIDTH = 1_000


class ExpressionError(NodeError):
    """An expression failed to compile or to evaluate; ``details["expression"]`` holds its source."""


# --- the sandbox -------------------------------------------------------------------------------------------


def _too_large(what: str) -> OverflowError:
    return OverflowError(f"{what} would exceed {MAX_RESULT_LENGTH} items")


def _too_large_result() -> OverflowError:
    return OverflowError(f"its result would be larger than {DEFAULT_MAX_ITEMS_BYTES // (1024 * 1024)} MiB as JSON")


def _check_repeat(left: Any, right: Any) -> None:
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
            if len(sequence) * times > MAX_RESULT_LENGTH:
                raise _too_large("repetition")


def _check_concatenation(left: Any, right: Any) -> None:
    if isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
        if len(left) + len(right) > MAX_RESULT_LENGTH:
            raise _too_large("concatenation")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if base.bit_length() * exponent > MAX_POWER_BITS:
            raise OverflowError(f"power would exceed {MAX_POWER_BITS} bits")


def _check_percent_format(template: str | bytes) -> None:
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    for match in _PERCENT_SPEC.finditer(text):
        for size in match.groups():
            if size == "*" or (size is not None and int(size) > _MAX_FORMAT_WIDTH):
                raise OverflowError(f"format width or precision above {_MAX_FORMAT_WIDTH}")


class _BoundedConcatenation(CodeGenerator):
    """Compiles ``a ~ b ~ ...`` to a call that checks the joined length first (Jinja joins them unchecked)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concatenate((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with object keys read n8n-style and size guards on amplifying operators."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _BoundedConcatenation

    @staticmethod
    def concatenate(parts: Iterable[Any]) -> str:
        texts = [str(part) for part in parts]
        if sum(len(text) for text in texts) > MAX_RESULT_LENGTH:
            raise _too_large("concatenation")
        return "".join(texts)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _UNSAFE_TEXT_METHODS and (
            isinstance(obj, str | bytes | bytearray)
            or (isinstance(obj, type) and issubclass(obj, str | bytes | bytearray))
        ):
            return False
        if attr == "to_bytes" and (isinstance(obj, int) or obj is int):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        # str.format is refused outright (see _UNSAFE_TEXT_METHODS) instead of being wrapped.
        return None

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict or isinstance(obj, Mapping):
            if attribute in obj:
                return obj[attribute]
            if not hasattr(obj, attribute):
                return None
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if type(obj) is dict or isinstance(obj, Mapping):
            try:
                return obj[argument]
            except KeyError:
                return None
            except TypeError:
                pass
        elif isinstance(obj, Sequence) and isinstance(argument, int):
            try:
                return obj[argument]
            except IndexError:
                return None
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            _check_concatenation(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str | bytes):
            _check_percent_format(left)
        return super().call_binop(context, operator, left, right)


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Jinja's ``default``, which also treats None as missing (a missing key reads as None)."""
    if value is None or isinstance(value, Undefined) or (boolean and not value):
        return default_value
    return value


def _tojson(value: Any, indent: int | None = None) -> str:
    """Plain JSON (Jinja's own ``tojson`` escapes HTML characters, which automation payloads do not want)."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def _fromjson(value: str | bytes) -> Any:
    return json.loads(value)


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    values = list(value)
    if len(d) * len(values) > MAX_RESULT_LENGTH:
        raise _too_large("join")
    return str(JINJA_FILTERS["join"](eval_ctx, values, d, attribute))


@pass_eval_context
def _replace(eval_ctx: EvalContext, value: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(value)
    occurrences = text.count(old) if count is None else min(count, text.count(old))
    if len(text) + occurrences * max(len(new) - len(old), 0) > MAX_RESULT_LENGTH:
        raise _too_large("replace")
    return str(JINJA_FILTERS["replace"](eval_ctx, text, old, new, count))


#: Jinja's filters that are deterministic and whose output size is bounded by their input
_JINJA_FILTERS_KEPT = (
    "abs",
    "capitalize",
    "count",
    "dictsort",
    "first",
    "float",
    "groupby",
    "int",
    "items",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "reverse",
    "round",
    "select",
    "selectattr",
    "sort",
    "string",
    "sum",
    "title",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
)


def _build_environment() -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False)
    env.filters = {name: JINJA_FILTERS[name] for name in _JINJA_FILTERS_KEPT}
    env.filters.update(default=_default, d=_default, tojson=_tojson, fromjson=_fromjson, join=_join, replace=_replace)
    env.globals.clear()
    env.globals.update(
        range=safe_range,
        dict=dict,
        list=list,
        len=len,
        str=str,
        int=int,
        float=float,
        bool=bool,
        min=min,
        max=max,
        sum=sum,
        abs=abs,
    )
    return env


_ENV = _build_environment()

#: the longest a template may take to render
TEMPLATE_TIMEOUT_SECONDS = 1.0


class _TemplateSandbox(_Sandbox):
    """The expression sandbox for whole templates: statements allowed, rendering bounded in time."""

    deadline: float = float("inf")

    def _tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TimeoutError(f"the template took longer than {TEMPLATE_TIMEOUT_SECONDS:g} s to render")

    def getattr(self, obj: Any, attribute: str) -> Any:
        self._tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self._tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self._tick()
        return super().call(__context, __obj, *args, **kwargs)


def _build_template_environment() -> _TemplateSandbox:
    env = _TemplateSandbox(undefined=StrictUndefined, autoescape=False)
    env.filters = dict(_ENV.filters)
    env.globals.clear()
    env.globals.update(_ENV.globals)

    def bounded_range(*args: int) -> Iterator[int]:
        for step, value in enumerate(safe_range(*args)):
            if step % 256 == 0:
                env._tick()
            yield value

    env.globals["range"] = bounded_range
    return env


_TEMPLATE_ENV = _build_template_environment()


# --- compiling ---------------------------------------------------------------------------------------------


def _shown(source: str) -> str:
    source = source.strip()
    return source if len(source) <= 120 else source[:117] + "..."


@dataclass(frozen=True, slots=True)
class _Expression:
    source: str
    #: ``result = <expression>`` compiled as a template: what ``compile_expression`` builds
    template: Template

    def value(self, variables: dict[str, Any]) -> Any:
        """The native value; Undefined and evaluation errors become :class:`ExpressionError`.

        ``variables`` is the scope with the globals already merged in (see :func:`render`). Sharing it,
        instead of letting ``Template.new_context`` copy globals and scope into a fresh dict per call and
        collect the global names, saves most of the cost of an evaluation.
        """
        try:
            context = Context(_ENV, variables, None, {})
            for _ in self.template.root_render_func(context):
                pass
            result = context.vars["result"]
            if isinstance(result, Undefined):
                result._fail_with_undefined_error()
            kind = type(result)
            if kind is float or kind is bool or result is None or (kind is int and result.bit_length() <= 1024):
                return result  # nothing to measure: most expressions compute a number or a flag
            if isinstance(result, tuple | range | MappingView | Iterator):
                result = list(cast(Iterable[Any], result))
            if json_size(result, DEFAULT_MAX_ITEMS_BYTES) > DEFAULT_MAX_ITEMS_BYTES:
                raise _too_large_result()
        except Exception as exc:
            raise ExpressionError(
                f"expression {{{{ {_shown(self.source)} }}}} failed: {exc}", {"expression": self.source}
            ) from exc
        return result

    def text(self, variables: dict[str, Any]) -> str:
        result = self.value(variables)
        if isinstance(result, str):
            return result
        if result is None:
            return ""
        return json.dumps(result, ensure_ascii=False, default=str)


def _syntax_error(source: str, reason: str) -> ExpressionError:
    return ExpressionError(f"invalid expression {{{{ {_shown(source)} }}}}: {reason}", {"expression": source})


@lru_cache(maxsize=4096)
def _compile(source: str) -> _Expression:
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise _syntax_error(source, f"longer than {MAX_EXPRESSION_LENGTH} characters")
    if not source.strip():
        raise _syntax_error(source, "empty expression")
    try:
        template = _ENV.compile_expression(source, undefined_to_none=False)._template
    except TemplateSyntaxError as exc:
        raise _syntax_error(source, exc.message or "syntax error") from exc
    except Exception as exc:  # e.g. RecursionError on absurd nesting
        raise _syntax_error(source, f"{type(exc).__name__}: {exc}") from exc
    return _Expression(source, template)


def _closing(text: str, start: int) -> int:
    """Index of the ``}}`` closing the expression that starts at ``start``, or -1.

    Skips string literals and balanced brackets, so ``{{ {'a': {'b': 1}} }}`` and ``{{ "}}" }}`` work.
    """
    depth = 0
    quote = ""
    i = start
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]":
            depth = max(depth - 1, 0)
        elif char == "}":
            if depth == 0 and text.startswith(_CLOSE, i):
                return i
            depth = max(depth - 1, 0)
        i += 1
    return -1


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[str | _Expression, ...]:
    """Literal text and compiled expressions, in order; a lone expression (whitespace around it) alone."""
    parts: list[str | _Expression] = []
    position = 0
    while (start := text.find(_OPEN, position)) >= 0:
        end = _closing(text, start + len(_OPEN))
        if end < 0:
            raise _syntax_error(text[start + len(_OPEN) :], "missing closing '}}'")
        if start > position:
            parts.append(text[position:start])
        parts.append(_compile(text[start + len(_OPEN) : end]))
        position = end + len(_CLOSE)
    if position < len(text):
        parts.append(text[position:])
    expressions = [part for part in parts if isinstance(part, _Expression)]
    if len(expressions) == 1 and all(isinstance(part, _Expression) or not part.strip() for part in parts):
        return (expressions[0],)
    return tuple(parts)


# --- public API --------------------------------------------------------------------------------------------


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Evaluate every expression in ``value`` (walking dicts and lists) against ``scope``.

    Dicts and lists come back as new containers; other non-string values are returned unchanged.
    """
    if not isinstance(value, str | dict | list) or (isinstance(value, str) and _OPEN not in value):
        return value
    return _render(value, {**_ENV.globals, **scope})


def _render(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if _OPEN not in value:
            return value
        parts = _parse(value)
        if len(parts) == 1 and isinstance(parts[0], _Expression):
            return parts[0].value(variables)
        return "".join(part if isinstance(part, str) else part.text(variables) for part in parts)
    if isinstance(value, dict):
        return {key: _render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, variables) for item in value]
    return value


@lru_cache(maxsize=256)
def _compile_template(source: str) -> Template:
    try:
        return _TEMPLATE_ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(
            f"invalid template (line {exc.lineno}): {exc.message or 'syntax error'}", {"template": source[:200]}
        ) from exc


def render_template(source: str, scope: Mapping[str, Any], *, max_length: int = MAX_RESULT_LENGTH) -> str:
    """Render a Jinja text template in the sandbox; ExpressionError when it fails, runs too long or too big."""
    template = _compile_template(source)
    pieces: list[str] = []
    written = 0
    _TEMPLATE_ENV.deadline = time.monotonic() + TEMPLATE_TIMEOUT_SECONDS
    try:
        for piece in template.generate(**scope):
            written += len(piece)
            if written > max_length:
                raise OverflowError(f"the template wrote more than {max_length} characters")
            pieces.append(piece)
            _TEMPLATE_ENV._tick()
    except ExpressionError:
        raise
    except Exception as exc:
        raise ExpressionError(f"template failed: {exc}", {"template": source[:200]}) from exc
    finally:
        _TEMPLATE_ENV.deadline = float("inf")
    return "".join(pieces)


def contains_expression(value: Any) -> bool:
    """Whether ``value`` (walking dicts and lists) holds a ``{{`` that :func:`render` would evaluate."""
    if isinstance(value, str):
        return _OPEN in value
    if isinstance(value, dict):
        return any(contains_expression(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_expression(item) for item in value)
    return False


def check_syntax(value: Any) -> None:
    """Compile every expression in ``value`` without evaluating it: syntax errors surface at save time."""
    if isinstance(value, str):
        if _OPEN in value:
            _parse(value)
    elif isinstance(value, dict):
        for item in value.values():
            check_syntax(item)
    elif isinstance(value, list):
        for item in value:
            check_syntax(item)
