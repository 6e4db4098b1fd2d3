"""Enums and pydantic models of the API model's definitions, and default values.

Part of :mod:`wsrpc_gen.python.build` (whose rules apply): :class:`DefinitionsBuilder` is the
base of its builder, holding what concerns definitions and default values.
"""

from __future__ import annotations

import base64
import keyword
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from wsrpc_typed.errors import CodegenError

from ..model import (
    Api,
    Constrained,
    EnumDef,
    FieldDef,
    ListOf,
    MapOf,
    ObjectDef,
    Ref,
    Scalar,
    TupleOf,
    TypeNode,
    UnionOf,
    strip,
)
from .parts import EnumClass, EnumMember, ModelClass, ModelField
from .source import Group, bytes_literal, docstring, identifier, layout, py_literal
from .types import TypeMapper

__all__ = [
    "CodegenError",
    "DefinitionsBuilder",
    "Namespace",
    "class_name",
    "scalar",
]

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


def _usable_names(names: Any, count: int) -> bool:
    # Declared member names are kept when they are distinct public identifiers, one a value.
    return (
        isinstance(names, tuple)
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
        api: The API.
        names: The Python class name of each definition that becomes a class.
        types: Turns type trees into type expressions and collects their imports.
    """

    api: Api
    names: dict[str, str]
    types: TypeMapper

    def enum_class(self, enum: EnumDef) -> EnumClass:
        members, used = [], set()
        values = list(enum.values)
        declared = enum.names
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
        if enum.mixin == "str" and all(isinstance(v, str) for v in values):
            base = "enum.StrEnum"
        elif enum.mixin == "int" and all(type(v) is int for v in values):
            base = "enum.IntEnum"
        return EnumClass(
            self.names[enum.key], self._doc(enum.description, "    "), tuple(members), base
        )

    def model_class(self, model: ObjectDef) -> ModelClass:
        name = self.names[model.key]
        config: list[str] = []
        if (name if model.title is None else model.title) != name:
            config.append(f"title={py_literal(model.title)}")
        if model.extra != "ignore":
            config.append(f'extra="{model.extra}"')
        fields, aliased = [], False
        taken: dict[str, str] = {}
        for field in model.fields:
            attr = identifier(field.name, reserved=_MODEL_ATTRIBUTES)
            if attr.startswith("_") or attr.startswith("model_"):
                attr = "field" + attr if attr.startswith("_") else "field_" + attr
            if attr in taken:
                raise CodegenError(
                    f"definition {model.key!r}: properties {taken[attr]!r} and {field.name!r} "
                    f"both map to the Python name {attr!r}"
                )
            taken[attr] = field.name
            aliased = aliased or attr != field.name
            fields.append(self.model_field(model.key, attr, field))
        if aliased:
            config.append("populate_by_name=True")
        if any(_is_base64(field.type) for field in model.fields):
            config += ['ser_json_bytes="base64"', 'val_json_bytes="base64"']
        config_lines: tuple[str, ...] = ()
        if config:
            self.types.imports.add("stubs.ConfigDict")
            config_lines = tuple(
                layout(Group("model_config = ConfigDict", "(", tuple(config), ")"), "    ")
            )
        self.types.imports.add("stubs.BaseModel")
        return ModelClass(name, self._doc(model.description, "    "), config_lines, tuple(fields))

    def model_field(self, key: str, attr: str, field: FieldDef) -> ModelField:
        annotation = self.types.expr(field.type)
        kwargs: list[str] = []
        has_default = field.has_default and not field.required
        if not field.required and not has_default:
            # The server fills it from a default_factory, which the schema cannot hold:
            # the client's field is optional too, with the empty value of its type.
            kwargs.append(f"default_factory={self._factory(key, field)}")
        if has_default:
            kwargs.append(f"default={self._value(field.default, field.type)}")
            if _needs_validation(field.default, field.type):
                kwargs.append("validate_default=True")
        if attr != field.name:
            kwargs.append(f"alias={py_literal(field.name)}")
        default_title = field.name.title().replace("_", " ")
        if field.title is not None and (field.title != default_title or attr != field.name):
            kwargs.append(f"title={py_literal(field.title)}")
        for meta in ("description", "deprecated", "examples"):
            value = getattr(field, meta)
            if value is not None:
                kwargs.append(f"{meta}={py_literal(value)}")
        head = f"{attr}: {annotation}"
        if has_default and len(kwargs) == 1 and scalar(field.default):
            return ModelField((f"    {head} = {self._value(field.default, field.type)}",))
        if not kwargs:
            return ModelField((f"    {head}",))
        self.types.imports.add("stubs.Field")
        return ModelField(tuple(layout(Group(f"{head} = Field", "(", tuple(kwargs), ")"), "    ")))

    def _factory(self, key: str, field: FieldDef) -> str:
        """A factory of an empty value of the field's type, for an optional field without a
        default (the server's ``default_factory``)."""
        node = field.type
        plain = not isinstance(node, Constrained) or "format" not in dict(node.extra)
        node = strip(node)
        options = node.options if isinstance(node, UnionOf) else (node,)
        if any(strip(o) == Scalar("null") for o in options):
            return "lambda: None"
        if isinstance(node, Ref):
            target = self.api.definitions[node.key]
            if isinstance(target, ObjectDef) and not target.required:
                return self.names[node.key]
        elif isinstance(node, ListOf):
            return "set" if node.unique else "list"
        elif isinstance(node, MapOf):
            return "dict"
        elif isinstance(node, Scalar) and node.format is None and node.kind in _EMPTY and plain:
            return _EMPTY[node.kind]
        raise CodegenError(
            f"definition {key!r}, field {field.name!r}: optional without a default (a "
            "default_factory on the server) and no empty value of its type to give it; "
            "declare a default"
        )

    def _value(self, value: Any, node: TypeNode) -> str:
        """A default as Python source: enum members by name, typed strings (bytes, decimals,
        dates, UUIDs) as values of their type, other JSON values as literals."""
        node = strip(node)
        fmt = node.format if isinstance(node, Scalar) else None
        if isinstance(value, str) and fmt in _TYPED_STRINGS:
            if fmt == "base64url":
                return bytes_literal(base64.urlsafe_b64decode(value.encode()))
            if fmt == "binary":
                return bytes_literal(value.encode())
            module, constructor = _TYPED_STRINGS[fmt]
            self.types.imports.add(module)
            return f"{constructor}({py_literal(value)})"
        if isinstance(node, Ref):
            target = self.api.definitions[node.key]
            if isinstance(target, EnumDef) and value in target.values:
                enum_ir = self.enum_class(target)
                member = enum_ir.members[list(target.values).index(value)]
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


def _needs_validation(value: Any, node: TypeNode) -> bool:
    # A JSON object or array default of a model-typed field: validate it into the model.
    return not scalar(value) and isinstance(strip(node), Ref)


def _is_base64(node: TypeNode) -> bool:
    if isinstance(node, Scalar):
        return node.format == "base64url"
    if isinstance(node, Constrained):
        return _is_base64(node.base)
    if isinstance(node, ListOf):
        return _is_base64(node.item)
    if isinstance(node, MapOf):
        return _is_base64(node.value)
    if isinstance(node, TupleOf):
        return any(_is_base64(item) for item in node.items)
    if isinstance(node, UnionOf):
        return any(_is_base64(option) for option in node.options)
    return False
