"""Stage 2, definitions: enums and pydantic models reproduced from ``$defs``, and defaults.

Part of :mod:`wsrpc_gen.build` (whose rules apply): :class:`DefinitionsBuilder` is the
base of its builder, holding what concerns definitions and default values.
"""

from __future__ import annotations

import base64
import keyword
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from wsrpc_typed.errors import CodegenError
from wsrpc_typed.schema import ApiSpec

from .ir import EnumClass, EnumMember, ModelClass, ModelField
from .pyexpr import Group, bytes_literal, docstring, identifier, layout, py_literal
from .types import FIELD_KEYS, TypeMapper

__all__ = [
    "CodegenError",
    "DefinitionsBuilder",
    "Namespace",
    "class_name",
    "is_enum",
    "is_model",
    "scalar",
]

_DEFS = "#/$defs/"
_MODEL_ATTRIBUTES = frozenset(dir(BaseModel))


def class_name(key: str) -> str:
    """A definition's class name from its ``$defs`` key."""
    # "Span-Input" -> "SpanInput", "pkg__mod__Point" -> "pkg__mod__Point".
    parts = re.split(r"[^0-9A-Za-z_]+", key)
    name = "".join(p[:1].upper() + p[1:] for p in parts if p) or "Model"
    return name.lstrip("_") or "Model"


class Namespace:
    """Module-level names handed out so far."""

    def __init__(self, taken: Iterable[str]) -> None:
        self._taken = set(taken)

    def claim(self, wanted: str) -> str:
        """``wanted`` as an identifier, with a numbered suffix if it is taken; now taken."""
        name = identifier(wanted)
        candidate, n = name, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{name}{n}"
        self._taken.add(candidate)
        return candidate


def is_enum(schema: Mapping[str, Any]) -> bool:
    """Whether a definition becomes an ``enum.Enum``."""
    return "enum" in schema and "properties" not in schema


def is_model(schema: Mapping[str, Any]) -> bool:
    """Whether a definition becomes a pydantic model."""
    return schema.get("type") == "object" and (
        "properties" in schema or schema.get("additionalProperties") is not True
    )


def _usable_names(names: Any, count: int) -> bool:
    # Declared member names are kept when they are distinct public identifiers, one a value.
    return (
        isinstance(names, list)
        and len(names) == count
        and all(
            isinstance(n, str)
            and n.isidentifier()
            and not keyword.iskeyword(n)
            and not n.startswith("_")
            and n not in _ENUM_RESERVED
            for n in names
        )
        and len(set(names)) == count
    )


_ENUM_RESERVED = frozenset({"name", "value", "mro"})


def _member_name(value: Any) -> str:
    if isinstance(value, str):
        text = re.sub(r"\W+", "_", value, flags=re.ASCII).strip("_").upper()
        if not text or text[0].isdigit():
            text = "V_" + text
        return text
    if isinstance(value, bool) or value is None:
        return str(value).upper()
    return "VALUE_" + str(value).replace("-", "MINUS_").replace(".", "_")


class DefinitionsBuilder:
    """Enum and model classes, and default values, of a module being built.

    Attributes:
        spec: The API.
        names: The Python class name of each definition that becomes a class.
        types: Turns schemas into type expressions and collects their imports.
    """

    spec: ApiSpec
    names: dict[str, str]
    types: TypeMapper

    def enum_class(self, key: str, schema: Mapping[str, Any]) -> EnumClass:
        members, used = [], set()
        values = list(schema["enum"])
        declared = schema.get("x-enum-varnames")
        if not _usable_names(declared, len(values)):
            declared = None
        for index, value in enumerate(values):
            name = declared[index] if declared is not None else _member_name(value)
            candidate, n = name, 1
            while candidate in used or candidate.startswith("_"):
                n += 1
                candidate = f"{name}_{n}"
            used.add(candidate)
            members.append(EnumMember(candidate, py_literal(value)))
        self.types.imports.add("enum")
        base = "enum.Enum"
        mixin = schema.get("x-enum-mixin")
        if mixin == "str" and all(isinstance(v, str) for v in values):
            base = "enum.StrEnum"
        elif mixin == "int" and all(type(v) is int for v in values):
            base = "enum.IntEnum"
        return EnumClass(
            self.names[key], self._doc(schema.get("description"), "    "), tuple(members), base
        )

    def model_class(self, key: str, schema: Mapping[str, Any]) -> ModelClass:
        name = self.names[key]
        config: list[str] = []
        if schema.get("title", name) != name:
            config.append(f"title={py_literal(schema['title'])}")
        extra = schema.get("additionalProperties")
        if extra is False:
            config.append('extra="forbid"')
        elif extra is True and "properties" in schema:
            config.append('extra="allow"')
        elif isinstance(extra, Mapping):
            raise CodegenError(
                f"definition {key!r}: typed additionalProperties on a model is not supported"
            )
        fields, aliased = [], False
        required = set(schema.get("required", ()))
        taken: dict[str, str] = {}
        for prop, sub in schema.get("properties", {}).items():
            attr = identifier(prop, reserved=_MODEL_ATTRIBUTES)
            if attr.startswith("_") or attr.startswith("model_"):
                attr = "field" + attr if attr.startswith("_") else "field_" + attr
            if attr in taken:
                raise CodegenError(
                    f"definition {key!r}: properties {taken[attr]!r} and {prop!r} both map to "
                    f"the Python name {attr!r}"
                )
            taken[attr] = prop
            aliased = aliased or attr != prop
            fields.append(self.model_field(key, attr, prop, sub, prop in required))
        if aliased:
            config.append("populate_by_name=True")
        if any(_is_base64(sub) for sub in schema.get("properties", {}).values()):
            config += ['ser_json_bytes="base64"', 'val_json_bytes="base64"']
        config_lines: tuple[str, ...] = ()
        if config:
            self.types.imports.add("stubs.ConfigDict")
            config_lines = tuple(
                layout(Group("model_config = ConfigDict", "(", tuple(config), ")"), "    ")
            )
        self.types.imports.add("stubs.BaseModel")
        return ModelClass(
            name, self._doc(schema.get("description"), "    "), config_lines, tuple(fields)
        )

    def model_field(
        self, key: str, attr: str, prop: str, schema: Mapping[str, Any], required: bool
    ) -> ModelField:
        annotation = self.types.expr({k: v for k, v in schema.items() if k not in FIELD_KEYS})
        kwargs: list[str] = []
        has_default = "default" in schema and not required
        if not required and not has_default:
            # The server fills it from a default_factory, which the schema cannot hold:
            # the client's field is optional too, with the empty value of its type.
            kwargs.append(f"default_factory={self._factory(key, prop, schema)}")
        if has_default:
            kwargs.append(f"default={self._value(schema['default'], schema)}")
            if _needs_validation(schema["default"], schema):
                kwargs.append("validate_default=True")
        if attr != prop:
            kwargs.append(f"alias={py_literal(prop)}")
        title = schema.get("title")
        default_title = prop.title().replace("_", " ")
        if title is not None and (title != default_title or attr != prop):
            kwargs.append(f"title={py_literal(title)}")
        for meta in ("description", "deprecated", "examples"):
            if meta in schema:
                kwargs.append(f"{meta}={py_literal(schema[meta])}")
        head = f"{attr}: {annotation}"
        if has_default and len(kwargs) == 1 and scalar(schema["default"]):
            return ModelField((f"    {head} = {self._value(schema['default'], schema)}",))
        if not kwargs:
            return ModelField((f"    {head}",))
        self.types.imports.add("stubs.Field")
        return ModelField(tuple(layout(Group(f"{head} = Field", "(", tuple(kwargs), ")"), "    ")))

    def _factory(self, key: str, prop: str, schema: Mapping[str, Any]) -> str:
        """A factory of an empty value of the field's type, for an optional field without a
        default (the server's ``default_factory``)."""
        branches = schema.get("anyOf", schema.get("oneOf", [schema]))
        if any(isinstance(b, Mapping) and b.get("type") == "null" for b in branches):
            return "lambda: None"
        kind = schema.get("type")
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS) and ref[len(_DEFS) :] in self.names:
            target = self.spec.defs[ref[len(_DEFS) :]]
            if is_model(target) and not target.get("required"):
                return self.names[ref[len(_DEFS) :]]
        elif kind == "array" and "prefixItems" not in schema:
            return "set" if schema.get("uniqueItems") else "list"
        elif kind == "object" and "properties" not in schema:
            return "dict"
        elif kind in _EMPTY and "format" not in schema and "enum" not in schema:
            return _EMPTY[kind]
        raise CodegenError(
            f"definition {key!r}, field {prop!r}: optional without a default (a "
            "default_factory on the server) and no empty value of its type to give it; "
            "declare a default"
        )

    def _value(self, value: Any, schema: Mapping[str, Any]) -> str:
        """A default as Python source: enum members by name, typed strings (bytes, decimals,
        dates, UUIDs) as values of their type, other JSON values as literals."""
        fmt = schema.get("format")
        if isinstance(value, str) and fmt in _TYPED_STRINGS:
            if fmt == "base64url":
                return bytes_literal(base64.urlsafe_b64decode(value.encode()))
            if fmt == "binary":
                return bytes_literal(value.encode())
            module, constructor = _TYPED_STRINGS[fmt]
            self.types.imports.add(module)
            return f"{constructor}({py_literal(value)})"
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            target = self.spec.defs.get(ref[len(_DEFS) :], {})
            if is_enum(target) and value in target["enum"]:
                enum_ir = self.enum_class(ref[len(_DEFS) :], target)
                member = enum_ir.members[list(target["enum"]).index(value)]
                return f"{enum_ir.name}.{member.name}"
        return py_literal(value)

    @staticmethod
    def _doc(text: str | None, indent: str) -> str | None:
        return None if text is None else docstring(text, indent)


_EMPTY = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_TYPED_STRINGS = {
    "base64url": ("", ""),
    "binary": ("", ""),
    "decimal": ("decimal", "decimal.Decimal"),
    "date-time": ("datetime", "datetime.datetime.fromisoformat"),
    "date": ("datetime", "datetime.date.fromisoformat"),
    "time": ("datetime", "datetime.time.fromisoformat"),
    "uuid": ("uuid", "uuid.UUID"),
}


def scalar(value: Any) -> bool:
    """Whether a JSON value is a scalar (a default a signature can hold)."""
    return value is None or isinstance(value, bool | int | float | str)


def _needs_validation(value: Any, schema: Mapping[str, Any]) -> bool:
    # A JSON object or array default of a model-typed field: validate it into the model.
    return not scalar(value) and "$ref" in schema


def _is_base64(schema: Any) -> bool:
    if isinstance(schema, Mapping):
        if schema.get("format") == "base64url":
            return True
        return any(_is_base64(v) for k, v in schema.items() if k not in FIELD_KEYS)
    if isinstance(schema, list):
        return any(_is_base64(v) for v in schema)
    return False
