"""Enums and pydantic models of the API model's definitions, and default values.

Part of :mod:`wsrpc_gen.python.build` (whose rules apply): :class:`DefinitionsBuilder` is the
base of its builder, holding what concerns definitions and default values.
"""

from __future__ import annotations

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
    refs,
    strip,
)
from .parts import EnumClass, EnumMember, ModelClass, ModelField
from .source import Group, call_part, identifier, layout, py_literal
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
        return EnumClass(self.names[enum.key], enum.description, tuple(members), base)

    def model_class(self, model: ObjectDef) -> ModelClass:
        """The class of an object type, of the kind the server declared (``model.kind``):
        a pydantic model, a (pydantic) dataclass or a ``TypedDict``."""
        name = self.names[model.key]
        config: list[str] = []
        if (name if model.title is None else model.title) != name:
            config.append(f"title={py_literal(model.title)}")
        if model.extra != "ignore":
            config.append(f'extra="{model.extra}"')
        fields, aliased = [], False
        taken: dict[str, str] = {}
        for field in model.fields:
            if model.kind == "typeddict":
                # A TypedDict's keys are its wire names: no alias is possible.
                if not field.name.isidentifier() or keyword.iskeyword(field.name):
                    raise CodegenError(
                        f"definition {model.key!r}: the TypedDict key {field.name!r} is not a "
                        "Python name, so it cannot be declared in a class body"
                    )
                attr = field.name
            else:
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
            fields.append(self.model_field(model, attr, field))
        if aliased:
            config.append("populate_by_name=True")
        if any(_is_base64(field.type) for field in model.fields):
            config += ['ser_json_bytes="base64"', 'val_json_bytes="base64"']
        if config:
            self.types.imports.add("stubs.ConfigDict")
        kw_only = False
        if model.kind == "model":
            self.types.imports.add("stubs.BaseModel")
        elif model.kind == "typeddict":
            self.types.imports.add("stubs.TypedDict")
            if config:
                self.types.imports.add("stubs.with_config")
        else:
            # A dataclass: pydantic's, so that constraints hold when it is constructed too.
            self.types.imports.add("stubs.dataclass")
            seen_default = False
            for field in model.fields:
                # A required field after one with a default: keyword-only fields.
                kw_only = kw_only or (field.required and seen_default)
                seen_default = seen_default or not field.required
        return ModelClass(
            name, model.description, tuple(fields), model.kind, tuple(config), kw_only
        )

    def model_field(self, model: ObjectDef, attr: str, field: FieldDef) -> ModelField:
        """One field of ``model``'s class: ``attr: annotation`` and its default (model,
        dataclass), or ``key: [NotRequired[]annotation[]]`` (TypedDict)."""
        annotation = self.types.expr(field.type)
        kwargs: list[str] = []
        has_default = field.has_default and not field.required
        typed_dict = model.kind == "typeddict"
        if not field.required and not has_default and not typed_dict:
            # The server fills it from a default_factory, which the schema cannot hold:
            # the client's field is optional too, with the empty value of its type.
            kwargs.append(f"default_factory={self._factory(model.key, field)}")
        if has_default:
            kwargs.append(f"default={self._value(field.default, field.type)}")
            if _needs_validation(field.default, field.type, self.api):
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
        if typed_dict:
            # Its keys take no default: what a field says beside its type goes in Annotated.
            base, constraints = self.types.split(field.type)
            annotation = self.types.annotate(base, [*constraints, *kwargs])
            if not field.required:
                self.types.imports.add("stubs.NotRequired")
                annotation = f"NotRequired[{annotation}]"
            return ModelField((f"    {attr}: {annotation}",))
        head = f"{attr}: {annotation}"
        if has_default and len(kwargs) == 1 and scalar(field.default):
            value = self._value(field.default, field.type)
            return ModelField(tuple(layout(call_part(f"{head} = {value}"), "    ")))
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
        """A default as Python source, by its type: enum members by name, typed strings
        (bytes, decimals, dates, UUIDs) as values of their type, tuples and sets as tuples
        and sets, other JSON values as literals."""
        text = self._signature_value(value, node, signature=False)
        assert text is not None  # only a signature refuses a value
        return text

    def signature_value(self, value: Any, node: TypeNode) -> str | None:
        """A scalar param default as Python source, or ``None`` if a signature cannot hold
        it (a call ruff's B008 refuses there, such as ``uuid.UUID(...)``)."""
        return self._signature_value(value, node, signature=True)

    def _signature_value(self, value: Any, node: TypeNode, *, signature: bool) -> str | None:
        node = strip(node)
        fmt = node.format if isinstance(node, Scalar) else None
        if isinstance(value, str) and fmt is not None:
            return self.types.format_value(fmt, value, signature=signature)
        if isinstance(node, Ref):
            target = self.api.definitions[node.key]
            if isinstance(target, EnumDef) and value in target.values:
                enum_ir = self.enum_class(target)
                member = enum_ir.members[list(target.values).index(value)]
                return f"{enum_ir.name}.{member.name}"
        # Containers by their type: a tuple for a tuple, a set for a set, items by theirs.
        if isinstance(value, list):
            if isinstance(node, TupleOf) and len(value) == len(node.items):
                items = [self._value(v, n) for v, n in zip(value, node.items, strict=True)]
                return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
            if isinstance(node, ListOf):
                items = [self._value(v, node.item) for v in value]
                if not node.unique:
                    return f"[{', '.join(items)}]"
                return f"{{{', '.join(items)}}}" if items else "set()"
        if isinstance(value, dict) and isinstance(node, MapOf):
            pairs = (f"{py_literal(k)}: {self._value(v, node.value)}" for k, v in value.items())
            return f"{{{', '.join(pairs)}}}"
        return py_literal(value)


_EMPTY = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


def scalar(value: Any) -> bool:
    """Whether a JSON value is a scalar (a default a signature can hold)."""
    return value is None or isinstance(value, bool | int | float | str)


def _needs_validation(value: Any, node: TypeNode, api: Api) -> bool:
    # A JSON object or array default that holds an object type (written as its JSON):
    # validate it into the class.
    return _has_object(value) and _holds_object(node, api, set())


def _has_object(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and any(_has_object(v) for v in value)


def _holds_object(node: TypeNode, api: Api, seen: set[str]) -> bool:
    for key in refs(node):
        if key in seen:
            continue
        seen.add(key)
        if isinstance(api.definitions[key], ObjectDef):
            return True
    return False


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
