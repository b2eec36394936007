"""Regular expressions written by workflow authors, bounded so that none can hang the engine.

A pattern such as ``(a+)+$`` takes exponential time on some inputs (catastrophic backtracking). Patterns are
compiled with the ``regex`` module (Python's ``re`` syntax, plus more) and every match runs with a time limit
of :data:`MATCH_TIMEOUT_SECONDS`: past it the node fails naming the field, instead of blocking the event loop.
Patterns longer than :data:`MAX_PATTERN_LENGTH` are refused, and compiled patterns are cached. The module loads with
the first pattern (~10 MB a process running no pattern node does not hold).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from flowtape.common.errors import NodeError

__all__ = ["MATCH_TIMEOUT_SECONDS", "MAX_PATTERN_LENGTH", "UserPattern", "compile_pattern"]

MAX_PATTERN_LENGTH = 1_000
#: the longest one search, substitution or split may take
MATCH_TIMEOUT_SECONDS = 0.25

T = TypeVar("T")


class UserPattern:
    """A compiled user pattern whose every operation is bounded in time."""

    def __init__(self, source: str, compiled: Any) -> None:
        self.source = source
        self._compiled = compiled

    def _bounded(self, operation: Callable[..., T], *args: Any, where: str) -> T:
        import regex

        try:
            return operation(*args, timeout=MATCH_TIMEOUT_SECONDS)
        except TimeoutError:
            raise NodeError(
                f"{where}: the regular expression {self.source!r} took longer than {MATCH_TIMEOUT_SECONDS:g} s "
                "(it backtracks too much on this text: simplify it, e.g. avoid nested repetition like (a+)+)",
                {"pattern": self.source},
            ) from None
        except regex.error as exc:
            raise NodeError(f"{where}: regular expression {self.source!r} failed: {exc}") from None

    def search(self, text: str, *, where: str) -> Any:
        return self._bounded(self._compiled.search, text, where=where)

    def sub(self, replacement: str, text: str, count: int = 0, *, where: str) -> str:
        result: str = self._bounded(self._compiled.sub, replacement, text, count, where=where)
        return result

    def split(self, text: str, maxsplit: int = 0, *, where: str) -> list[str]:
        result: list[str] = self._bounded(self._compiled.split, text, maxsplit, where=where)
        return result


@lru_cache(maxsize=512)
def compile_pattern(source: str, ignore_case: bool = False, multiline: bool = False) -> UserPattern:
    """The pattern compiled, or a NodeError saying what is wrong with it."""
    if len(source) > MAX_PATTERN_LENGTH:
        raise NodeError(f"the regular expression is longer than {MAX_PATTERN_LENGTH} characters")
    import regex

    flags = regex.VERSION0 | (regex.IGNORECASE if ignore_case else 0) | (regex.MULTILINE if multiline else 0)
    try:
        compiled = regex.compile(source, flags)
    except regex.error as exc:
        raise NodeError(f"invalid regular expression {source!r}: {exc}", {"pattern": source}) from None
    return UserPattern(source, compiled)
