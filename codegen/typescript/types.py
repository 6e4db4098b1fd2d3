"""The TypeScript target's type mapper: a type tree of the API model to a type expression.

JSON has one number type, so ``integer`` and ``number`` are both ``number``; the
string formats (``date-time``, ``date``, ``time``, ``duration``, ``uuid``,
``decimal``) stay ``string``, as do bytes (``base64url``/``binary``: base64 text),
because that is what travels and what ``JSON.parse`` gives. What the type cannot
say (formats, constraints) goes into the doc comment: see :func:`notes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ..model import (
    Constrained,
    ListOf,
    LiteralOf,
    MapOf,
    Ref,
    Scalar,
    TupleOf,
    TypeNode,
    UnionOf,
)
from .naming import literal

__all__ = ["TypeMapper", "notes", "tagged_options"]

_SCALARS = {
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "string": "string",
    "null": "null",
    "any": "unknown",
}
#: What each string format's text holds, for doc comments.
_FORMATS = {
    "date-time": "an ISO 8601 date-time",
    "date": "an ISO 8601 date",
    "time": "an ISO 8601 time",
    "duration": "an ISO 8601 duration",
    "uuid": "a UUID",
    "decimal": "a decimal number, as text (exact)",
    "base64url": "bytes, base64url-encoded",
    "binary": "bytes, base64-encoded",
}


class TypeMapper:
    """Turns type trees into TypeScript type expressions.

    Args:
        names: The type name of each definition (by ``$defs`` key).
    """

    def __init__(self, names: Mapping[str, str]):
        self._names = names

    def expr(self, node: TypeNode) -> str:
        """The type expression of ``node`` (constraints are not types: see :func:`notes`)."""
        return self._expr(node)[0]

    def _expr(self, node: TypeNode) -> tuple[str, bool]:
        # (text, whether it is a union that needs parentheses inside ``T[]``)
        if isinstance(node, Constrained):
            return self._expr(node.base)
        if isinstance(node, Scalar):
            return _SCALARS[node.kind], False
        if isinstance(node, Ref):
            return self._names[node.key], False
        if isinstance(node, LiteralOf):
            if not all(v is None or isinstance(v, str | int | float | bool) for v in node.values):
                return "unknown", False  # an object or array constant has no literal type
            options = _unique(literal(v) for v in node.values)
            return " | ".join(options), len(options) > 1
        if isinstance(node, UnionOf):
            options = _unique(self._expr(option)[0] for option in node.options)
            if "unknown" in options:
                return "unknown", False
            return " | ".join(options), len(options) > 1
        if isinstance(node, ListOf):
            item, union = self._expr(node.item)
            return (f"({item})[]" if union else f"{item}[]"), False
        if isinstance(node, TupleOf):
            return f"[{', '.join(self.expr(item) for item in node.items)}]", False
        assert isinstance(node, MapOf)
        return f"Record<string, {self.expr(node.value)}>", False


def _unique(texts: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for text in texts:
        if text not in seen:
            seen.append(text)
    return seen


def notes(node: TypeNode) -> list[str]:
    """What a doc comment says of ``node`` beyond its type: its format and its constraints,
    one sentence each."""
    formats: list[str] = []
    constraints: list[str] = []
    _collect(node, formats, constraints)
    found = [f"{_FORMATS[f][:1].upper()}{_FORMATS[f][1:]}." for f in formats]
    if constraints:
        found.append(f"Constraints: {', '.join(constraints)}.")
    return found


def _collect(node: TypeNode, formats: list[str], constraints: list[str]) -> None:
    if isinstance(node, UnionOf):
        for option in node.options:
            _collect(option, formats, constraints)
        return
    while isinstance(node, Constrained):
        for key, value in node.constraints:
            text = f"{key} `{value}`" if key == "pattern" else f"{key} {literal(value)}"
            if text not in constraints:
                constraints.append(text)
        node = node.base
    if isinstance(node, Scalar) and node.format is not None and node.format not in formats:
        formats.append(node.format)
    if isinstance(node, ListOf) and node.unique and "uniqueItems" not in constraints:
        constraints.append("uniqueItems")


def tagged_options(node: TypeNode) -> Iterator[tuple[str, str]]:
    """``(key, property)`` for each definition ``node`` uses as an option of a union
    discriminated by that property."""
    if isinstance(node, UnionOf):
        for option in node.options:
            while isinstance(option, Constrained):
                option = option.base
            if node.discriminator is not None and isinstance(option, Ref):
                yield option.key, node.discriminator
            yield from tagged_options(option)
    elif isinstance(node, Constrained):
        yield from tagged_options(node.base)
    elif isinstance(node, ListOf):
        yield from tagged_options(node.item)
    elif isinstance(node, MapOf):
        yield from tagged_options(node.value)
    elif isinstance(node, TupleOf):
        for item in node.items:
            yield from tagged_options(item)
