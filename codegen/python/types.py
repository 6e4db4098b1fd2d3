"""The Python target's type mapper: a type tree of the API model to a type expression.

The expressions are chosen so that pydantic, given them, writes the schema
back: ``Annotated[int, Field(ge=0)]`` for ``{"type": "integer", "minimum": 0}``,
``decimal.Decimal`` for ``format: decimal``, ``Literal[...]`` for ``enum`` and
``const``, ``Annotated[A | B, Field(discriminator=...)]`` for a discriminated
``oneOf``, and so on.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from wsrpc_typed.errors import CodegenError

from ..model import (
    Constrained,
    ListOf,
    LiteralOf,
    Ref,
    Scalar,
    TupleOf,
    TypeNode,
    UnionOf,
)
from .source import bytes_literal, py_literal

__all__ = ["TypeMapper"]

#: Each constraint keyword's ``Field`` argument.
_CONSTRAINTS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "multipleOf": "multiple_of",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "minItems": "min_length",
    "maxItems": "max_length",
}


@dataclass(frozen=True, slots=True)
class _Format:
    """What a string format (:data:`wsrpc_gen.model.FORMATS`) is in Python."""

    #: Its type expression.
    type: str
    #: The module the expression needs, if any.
    module: str | None
    #: Reads a JSON value of it into a Python value whose repr is the source of the value.
    parse: Callable[[str], Any]
    #: Whether a value may be written in a signature's default (ruff's B008 lets the
    #: constructors of datetime's types and of Decimal be called there, not UUID's).
    in_signature: bool = True


#: Each string format, one row: its type, module, and how its values are written.
_FORMATS = {
    "date-time": _Format("datetime.datetime", "datetime", dt.datetime.fromisoformat),
    "date": _Format("datetime.date", "datetime", dt.date.fromisoformat),
    "time": _Format("datetime.time", "datetime", dt.time.fromisoformat),
    # ISO 8601 durations ("PT3S"), as pydantic writes them.
    "duration": _Format(
        "datetime.timedelta", "datetime", TypeAdapter(dt.timedelta).validate_python
    ),
    "uuid": _Format("uuid.UUID", "uuid", uuid.UUID, in_signature=False),
    "decimal": _Format("decimal.Decimal", "decimal", decimal.Decimal),
    "base64url": _Format("bytes", None, base64.urlsafe_b64decode),
    "binary": _Format("bytes", None, str.encode),
}
_SCALARS = {
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "string": "str",
    "null": "None",
    "any": "object",
}


class TypeMapper:
    """Turns type trees into type expressions, noting which imports they need.

    Args:
        names: The Python class name of each definition (by ``$defs`` key).
    """

    def __init__(self, names: Mapping[str, str]):
        self._names = names
        self.imports: set[str] = set()

    def format_value(self, fmt: str, value: str, *, signature: bool = False) -> str | None:
        """The Python source of a JSON string ``value`` of format ``fmt`` (a value of the
        format's type), or ``None`` when it cannot be written in a signature's default
        (``signature``).

        Raises:
            CodegenError: ``value`` is not a valid value of the format.
        """
        row = _FORMATS[fmt]
        if signature and not row.in_signature:
            return None
        if row.module is not None:
            self.imports.add(row.module)
        try:
            parsed = row.parse(value)
        except (ValueError, ValidationError) as exc:
            raise CodegenError(f"{value!r} is not a {fmt} value") from exc
        if isinstance(parsed, bytes):
            return bytes_literal(parsed)
        if isinstance(parsed, decimal.Decimal | uuid.UUID):
            return f"{row.type}({py_literal(value)})"
        # datetime's reprs are constructor calls on the module: datetime.date(2024, 1, 2)
        # (with the UTC alias ruff asks for).
        return repr(parsed).replace("datetime.timezone.utc", "datetime.UTC")

    def annotate(self, base: str, kwargs: list[str]) -> str:
        """``base``, or ``Annotated[base, Field(kwargs)]`` when there are any."""
        if not kwargs:
            return base
        self.imports.update({"typing.Annotated", "stubs.Field"})
        return f"Annotated[{base}, Field({', '.join(kwargs)})]"

    def split(self, node: TypeNode) -> tuple[str, list[str]]:
        """The type expression of ``node`` without its constraints, and their ``Field``
        arguments."""
        if not isinstance(node, Constrained):
            return self.expr(node), []
        kwargs = [f"{_CONSTRAINTS[key]}={py_literal(value)}" for key, value in node.constraints]
        if node.extra:
            kwargs.append(f"json_schema_extra={py_literal(dict(node.extra))}")
        return self.expr(node.base), kwargs

    def expr(self, node: TypeNode) -> str:
        """The type expression of ``node``, constraints included."""
        if isinstance(node, Constrained):
            return self.annotate(*self.split(node))
        if isinstance(node, Scalar):
            if node.format is None:
                return _SCALARS[node.kind]
            row = _FORMATS[node.format]
            if row.module is not None:
                self.imports.add(row.module)
            return row.type
        if isinstance(node, Ref):
            return self._names[node.key]
        if isinstance(node, LiteralOf):
            self.imports.add("typing.Literal")
            return f"Literal[{', '.join(py_literal(v) for v in node.values)}]"
        if isinstance(node, UnionOf):
            union = " | ".join(self.expr(option) for option in node.options)
            if node.discriminator is None:
                return union
            self.imports.update({"typing.Annotated", "stubs.Field"})
            return f"Annotated[{union}, Field(discriminator={py_literal(node.discriminator)})]"
        if isinstance(node, ListOf):
            item = self.expr(node.item)
            return f"set[{item}]" if node.unique else f"list[{item}]"
        if isinstance(node, TupleOf):
            return f"tuple[{', '.join(self.expr(item) for item in node.items)}]"
        return f"dict[str, {self.expr(node.value)}]"
