"""JSON Schema to Python type expressions, for the models and signatures of a client.

The expressions are chosen so that pydantic, given them, writes the schema
back: ``Annotated[int, Field(ge=0)]`` for ``{"type": "integer", "minimum": 0}``,
``decimal.Decimal`` for ``format: decimal``, ``Literal[...]`` for ``enum`` and
``const``, ``Annotated[A | B, Field(discriminator=...)]`` for a discriminated
``oneOf``, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wsrpc_typed.schema import SchemaError

from .pyexpr import py_literal

__all__ = ["FIELD_KEYS", "TypeMapper"]

_DEFS = "#/$defs/"

#: Keywords that describe a field (or param), not its type.
FIELD_KEYS = frozenset({"title", "description", "default", "deprecated", "examples"})

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
_SCALARS = {"integer": "int", "number": "float", "boolean": "bool", "string": "str"}
# Keywords the type expressions below account for.
_TYPE_KEYS = frozenset(
    {
        "type",
        "$ref",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "allOf",
        "discriminator",
        "items",
        "prefixItems",
        "uniqueItems",
        "additionalProperties",
        "format",
        *_CONSTRAINTS,
    }
)


class TypeMapper:
    """Turns schemas into type expressions, noting which imports they need.

    Args:
        names: Python class name of each definition (by ``$defs`` key) that is a class.
        aliases: Schema of each definition that is inlined instead (not a class).
    """

    def __init__(self, names: Mapping[str, str], aliases: Mapping[str, Mapping[str, Any]]):
        self._names = names
        self._aliases = aliases
        self.imports: set[str] = set()
        self._inlining: list[str] = []

    def field_kwargs(self, schema: Mapping[str, Any]) -> list[str]:
        """``Field`` arguments for the constraints of ``schema`` (unknown keywords kept)."""
        kwargs = []
        items = schema.get("prefixItems")
        for key, arg in _CONSTRAINTS.items():
            if key not in schema:
                continue
            if items is not None and key in ("minItems", "maxItems") and schema[key] == len(items):
                continue  # a tuple's length: pydantic writes it itself
            kwargs.append(f"{arg}={py_literal(schema[key])}")
        extra = {
            k: v
            for k, v in sorted(schema.items())
            if k not in _TYPE_KEYS and k not in FIELD_KEYS and not k.startswith("x-")
        }
        fmt = schema.get("format")
        known = fmt in _FORMATS and (schema.get("type") == "string" or fmt == "decimal")
        if isinstance(fmt, str) and not known:
            extra["format"] = fmt
        if extra:
            kwargs.append(f"json_schema_extra={py_literal(extra)}")
        return kwargs

    def annotate(self, base: str, kwargs: list[str]) -> str:
        """``base``, or ``Annotated[base, Field(kwargs)]`` when there are any."""
        if not kwargs:
            return base
        self.imports.update({"typing.Annotated", "stubs.Field"})
        return f"Annotated[{base}, Field({', '.join(kwargs)})]"

    def expr(self, schema: Mapping[str, Any] | bool) -> str:
        """The type expression of ``schema``, constraints included.

        Raises:
            SchemaError: the schema uses a construct the generator cannot reproduce.
        """
        if schema is True or schema == {}:
            return "object"
        if not isinstance(schema, Mapping):
            raise SchemaError(f"cannot generate a type for the schema {schema!r}")
        base = self._base(schema)
        return self.annotate(base, self.field_kwargs(schema))

    def _base(self, schema: Mapping[str, Any]) -> str:
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "const" in schema:
            self.imports.add("typing.Literal")
            return f"Literal[{py_literal(schema['const'])}]"
        if "enum" in schema:
            self.imports.add("typing.Literal")
            return f"Literal[{', '.join(py_literal(v) for v in schema['enum'])}]"
        if "oneOf" in schema and "discriminator" in schema:
            union = " | ".join(self.expr(s) for s in schema["oneOf"])
            prop = schema["discriminator"]["propertyName"]
            self.imports.update({"typing.Annotated", "stubs.Field"})
            return f"Annotated[{union}, Field(discriminator={py_literal(prop)})]"
        for key in ("anyOf", "oneOf"):
            if key in schema:
                if schema.get("format") == "decimal":
                    self.imports.add("decimal")
                    return "decimal.Decimal"
                return " | ".join(self.expr(s) for s in schema[key])
        if "allOf" in schema and len(schema["allOf"]) == 1:
            return self.expr(schema["allOf"][0])
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self._base({**schema, "type": k}) for k in kind)
        if kind == "null":
            return "None"
        if kind == "string" and schema.get("format") in _FORMATS:
            expr, module = _FORMATS[schema["format"]]
            if module is not None:
                self.imports.add(module)
            return expr
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array":
            return self._array(schema)
        if kind == "object":
            if "properties" in schema:
                raise SchemaError(
                    f"an inline object with properties ({sorted(schema['properties'])}) has no "
                    "name to generate a model for; put it in $defs"
                )
            values = schema.get("additionalProperties", True)
            return f"dict[str, {self.expr(values)}]"
        if kind is None and not set(schema) & _TYPE_KEYS:
            return "object"
        raise SchemaError(f"cannot generate a type for the schema {dict(schema)!r}")

    def _array(self, schema: Mapping[str, Any]) -> str:
        if "prefixItems" in schema:
            if "items" in schema and schema["items"] is not False:
                raise SchemaError("tuples with a variadic tail are not supported")
            return f"tuple[{', '.join(self.expr(s) for s in schema['prefixItems'])}]"
        item = self.expr(schema.get("items", True))
        return f"set[{item}]" if schema.get("uniqueItems") else f"list[{item}]"

    def _ref(self, ref: str) -> str:
        if not ref.startswith(_DEFS):
            raise SchemaError(f"only local references (#/$defs/...) are supported, got {ref!r}")
        key = ref[len(_DEFS) :]
        if key in self._names:
            return self._names[key]
        if key not in self._aliases:
            raise SchemaError(f"reference to an undefined definition {ref!r}")
        if key in self._inlining:
            raise SchemaError(f"definition {key!r} refers to itself and is not a model")
        self._inlining.append(key)
        try:
            return self.expr(self._aliases[key])
        finally:
            self._inlining.pop()
