"""The Python target's type mapper: a type tree of the API model to a type expression.

The expressions are chosen so that pydantic, given them, writes the schema
back: ``Annotated[int, Field(ge=0)]`` for ``{"type": "integer", "minimum": 0}``,
``decimal.Decimal`` for ``format: decimal``, ``Literal[...]`` for ``enum`` and
``const``, ``Annotated[A | B, Field(discriminator=...)]`` for a discriminated
``oneOf``, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping

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
from .source import py_literal

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
#: Each string format's type, and the module it needs.
_FORMATS = {
    "date-time": ("datetime.datetime", "datetime"),
    "date": ("datetime.date", "datetime"),
    "time": ("datetime.time", "datetime"),
    "duration": ("datetime.timedelta", "datetime"),
    "uuid": ("uuid.UUID", "uuid"),
    "decimal": ("decimal.Decimal", "decimal"),
    "base64url": ("bytes", None),
    "binary": ("bytes", None),
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
            expr, module = _FORMATS[node.format]
            if module is not None:
                self.imports.add(module)
            return expr
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
