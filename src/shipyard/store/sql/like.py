"""LIKE that means the same on SQLite and PostgreSQL.

SQLite's LIKE ignores ASCII case and has no escape character unless told; PostgreSQL's is
case-sensitive with backslash as its escape. A filter's ``like`` is case-sensitive with
``\\`` escaping ``%``, ``_`` and itself everywhere: on SQLite it compiles to GLOB (always
case-sensitive), with the pattern translated, on PostgreSQL to LIKE ... ESCAPE.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, func, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

_GLOB_SPECIAL = {"*": "[*]", "?": "[?]", "[": "[[]"}


def _tokens(pattern: str) -> list[tuple[str, str]]:
    """("any", ""), ("one", "") or ("char", c); a trailing lone backslash is a backslash."""
    found: list[tuple[str, str]] = []
    chars = iter(pattern)
    for c in chars:
        if c == "\\":
            found.append(("char", next(chars, "\\")))
        elif c == "%":
            found.append(("any", ""))
        elif c == "_":
            found.append(("one", ""))
        else:
            found.append(("char", c))
    return found


def like_pattern(pattern: str) -> str:
    """The pattern for LIKE ... ESCAPE '\\' (a lone trailing backslash made literal)."""
    out = {"any": "%", "one": "_"}
    return "".join(
        out.get(kind) or ("\\" + c if c in "%_\\" else c) for kind, c in _tokens(pattern)
    )


def glob_pattern(pattern: str) -> str:
    """The same pattern for SQLite's GLOB."""
    out = {"any": "*", "one": "?"}
    return "".join(out.get(kind) or _GLOB_SPECIAL.get(c, c) for kind, c in _tokens(pattern))


class Like(ColumnElement[bool]):
    """``column LIKE pattern``, case-sensitive (or not, with ``insensitive``) on every
    backend, ``\\`` escaping."""

    type = Boolean()
    inherit_cache = False  # the pattern is rendered per dialect: no shared cache entry

    def __init__(self, column: Any, pattern: str, insensitive: bool = False) -> None:
        self.column = column
        self.pattern = pattern
        self.insensitive = insensitive


@compiles(Like)
def _like_default(element: Like, compiler: SQLCompiler, **kw: Any) -> str:
    column: Any = element.column
    pattern: Any = literal(like_pattern(element.pattern))
    if element.insensitive:
        column, pattern = func.lower(column), func.lower(pattern)
    return compiler.process(column.like(pattern, escape="\\"), **kw)


@compiles(Like, "sqlite")
def _like_sqlite(element: Like, compiler: SQLCompiler, **kw: Any) -> str:
    column: Any = element.column
    pattern: Any = literal(glob_pattern(element.pattern))
    if element.insensitive:
        column, pattern = func.lower(column), func.lower(pattern)
    return f"({compiler.process(column, **kw)} GLOB {compiler.process(pattern, **kw)})"
