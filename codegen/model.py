"""The language-neutral model of an API: what every target generates code from.

:func:`api_model` reads an :class:`~wsrpc_typed.schema.ApiSpec` (a schema document
already parsed) once, into plain data: definitions (enums and object types),
methods and peer methods with their params, results, stream flags and errors,
and each type as a tree of :data:`TypeNode`. The tree holds no target's syntax:
a target (:mod:`wsrpc_gen.python`) maps each node to its own type expressions and
names, and writes them with its templates.

Definitions that are not classes (aliases) are inlined where they are used, so
a :class:`Ref` always names an :class:`EnumDef` or an :class:`ObjectDef`.
Defaults are JSON values, as the schema holds them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from wsrpc_typed.schema import ApiSpec, MethodSpec, SchemaError

__all__ = [
    "FIELD_KEYS",
    "FORMATS",
    "OBJECT_KINDS",
    "Api",
    "Constrained",
    "EnumDef",
    "ErrorDef",
    "FieldDef",
    "ListOf",
    "LiteralOf",
    "MapOf",
    "MethodDef",
    "ObjectDef",
    "ParamDef",
    "Ref",
    "Scalar",
    "TupleOf",
    "TypeNode",
    "UnionOf",
    "api_model",
    "is_enum",
    "is_model",
    "refs",
    "strip",
]

_DEFS = "#/$defs/"

#: Keywords that describe a field (or param), not its type.
FIELD_KEYS = frozenset({"title", "description", "default", "deprecated", "examples"})
#: String formats with a type of their own (``decimal`` also on a number-or-string).
FORMATS = frozenset(
    {"date-time", "date", "time", "duration", "uuid", "decimal", "base64url", "binary"}
)
#: What an object type may be declared as (``x-python-kind``; absent: ``model``).
OBJECT_KINDS = frozenset({"model", "dataclass", "typeddict"})
#: Constraint keywords, in the order they are written.
CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
)
# Keywords the type tree accounts for; any other (but x-...) is kept as ``extra``.
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
        *CONSTRAINTS,
    }
)
_KINDS = frozenset({"string", "integer", "number", "boolean", "null"})


# -- the type tree -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scalar:
    """A JSON scalar: ``kind`` is ``string``, ``integer``, ``number``, ``boolean``,
    ``null`` or ``any`` (any JSON value); ``format`` one of :data:`FORMATS`, if any."""

    kind: str
    format: str | None = None


@dataclass(frozen=True, slots=True)
class Ref:
    """A named definition (an :class:`EnumDef` or :class:`ObjectDef`), by its ``$defs`` key."""

    key: str


@dataclass(frozen=True, slots=True)
class LiteralOf:
    """One of the given JSON values (``const`` has one, an inline ``enum`` several)."""

    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ListOf:
    """An array of ``item``; ``unique``: its items are distinct (a set)."""

    item: TypeNode
    unique: bool = False


@dataclass(frozen=True, slots=True)
class TupleOf:
    """A fixed-length array, one type per position."""

    items: tuple[TypeNode, ...]


@dataclass(frozen=True, slots=True)
class MapOf:
    """An object with any keys (strings) and values of ``value``."""

    value: TypeNode


@dataclass(frozen=True, slots=True)
class UnionOf:
    """Any of ``options``; ``discriminator``: the property whose value tells which."""

    options: tuple[TypeNode, ...]
    discriminator: str | None = None


@dataclass(frozen=True, slots=True)
class Constrained:
    """``base`` with constraints (JSON Schema keyword and value, in :data:`CONSTRAINTS`
    order) and ``extra`` keywords that no target turns into a type (sorted)."""

    base: TypeNode
    constraints: tuple[tuple[str, Any], ...]
    extra: tuple[tuple[str, Any], ...] = ()


TypeNode = Scalar | Ref | LiteralOf | ListOf | TupleOf | MapOf | UnionOf | Constrained


def strip(node: TypeNode) -> TypeNode:
    """``node`` without its constraints."""
    while isinstance(node, Constrained):
        node = node.base
    return node


def refs(node: TypeNode) -> Iterator[str]:
    """The ``$defs`` keys ``node`` refers to directly (not through other definitions)."""
    if isinstance(node, Ref):
        yield node.key
    elif isinstance(node, Constrained):
        yield from refs(node.base)
    elif isinstance(node, ListOf):
        yield from refs(node.item)
    elif isinstance(node, MapOf):
        yield from refs(node.value)
    elif isinstance(node, TupleOf | UnionOf):
        for child in node.items if isinstance(node, TupleOf) else node.options:
            yield from refs(child)


# -- definitions, methods, the API -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnumDef:
    """An enumeration.

    Attributes:
        key: Its ``$defs`` key.
        description: Its docstring.
        values: The members' values, in order.
        names: The members' declared names (``x-enum-varnames``), when the schema has them.
        mixin: ``str`` or ``int`` for a ``StrEnum``/``IntEnum`` (``x-enum-mixin``).
    """

    key: str
    description: str | None
    values: tuple[Any, ...]
    names: tuple[Any, ...] | None
    mixin: str | None


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One property of an object type.

    Attributes:
        name: The property's wire name.
        type: Its type.
        required: Whether it must be present.
        has_default: Whether the schema gives it a ``default`` (then in ``default``).
        default: Its default, a JSON value.
        title, description, deprecated, examples: Its annotations, as the schema has them
            (``None``: absent).
    """

    name: str
    type: TypeNode
    required: bool
    has_default: bool = False
    default: Any = None
    title: str | None = None
    description: str | None = None
    deprecated: Any = None
    examples: Any = None


@dataclass(frozen=True, slots=True)
class ObjectDef:
    """An object type with named properties.

    Attributes:
        key: Its ``$defs`` key.
        title: The schema's ``title``.
        description: Its docstring.
        fields: Its properties, in order.
        extra: What it does with unknown properties: ``forbid``, ``allow`` or ``ignore``.
        kind: What the server declared it as (the schema's ``x-python-kind``): ``model``
            (a class with fields, the default), ``dataclass`` (likewise), or ``typeddict``
            (a plain mapping with these keys). A target without the distinction reads
            all three as one object type.
    """

    key: str
    title: str | None
    description: str | None
    fields: tuple[FieldDef, ...]
    extra: str = "ignore"
    kind: str = "model"

    @property
    def required(self) -> bool:
        """Whether any property is required (else an empty object is a valid value)."""
        return any(f.required for f in self.fields)


Definition = EnumDef | ObjectDef


@dataclass(frozen=True, slots=True)
class ErrorDef:
    """A declared application error: ``data`` is the key of its data's object type, if any."""

    name: str
    code: int
    message: str
    description: str | None
    data: str | None


@dataclass(frozen=True, slots=True)
class ParamDef:
    """One param of a method: ``default`` (a JSON value) when ``has_default``."""

    name: str
    type: TypeNode
    required: bool
    has_default: bool = False
    default: Any = None


@dataclass(frozen=True, slots=True)
class MethodDef:
    """One method: ``result`` is the type of its result, or of each item of a stream."""

    name: str
    description: str | None
    deprecated: bool
    params: tuple[ParamDef, ...]
    result: TypeNode
    errors: tuple[ErrorDef, ...]
    stream: bool = False
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Api:
    """A whole API: what the server serves, what it calls on clients, and the types.

    Attributes:
        definitions: Enums and object types by ``$defs`` key, sorted by key.
        methods, peer_methods: Sorted by name.
    """

    title: str
    version: str
    description: str | None
    definitions: Mapping[str, Definition]
    methods: tuple[MethodDef, ...]
    peer_methods: tuple[MethodDef, ...] = ()
    errors: Mapping[str, ErrorDef] = field(default_factory=dict)

    def reachable(self, methods: tuple[MethodDef, ...]) -> set[str]:
        """The keys of the definitions ``methods`` use, directly or through others."""
        todo = [
            key
            for m in methods
            for node in (*(p.type for p in m.params), m.result)
            for key in refs(node)
        ]
        todo += [e.data for m in methods for e in m.errors if e.data is not None]
        found: set[str] = set()
        while todo:
            key = todo.pop()
            if key in found:
                continue
            found.add(key)
            definition = self.definitions[key]
            if isinstance(definition, ObjectDef):
                todo += [k for f in definition.fields for k in refs(f.type)]
        return found


def is_enum(schema: Mapping[str, Any]) -> bool:
    """Whether a definition is an enumeration."""
    return "enum" in schema and "properties" not in schema


def is_model(schema: Mapping[str, Any]) -> bool:
    """Whether a definition is an object type with named properties (a class)."""
    return schema.get("type") == "object" and (
        "properties" in schema or schema.get("additionalProperties") is not True
    )


# -- ApiSpec -> Api ---------------------------------------------------------------------


def api_model(spec: ApiSpec) -> Api:
    """The model of ``spec``.

    Raises:
        SchemaError: the document uses a construct no target can reproduce (an inline
            object with properties, a reference outside ``$defs``, an alias that
            refers to itself, a tuple with a variadic tail...).
    """
    return _Reader(spec).api()


class _Reader:
    def __init__(self, spec: ApiSpec) -> None:
        self.spec = spec
        self._inlining: list[str] = []

    def api(self) -> Api:
        spec = self.spec
        definitions: dict[str, Definition] = {}
        for key, schema in sorted(spec.defs.items()):
            if is_enum(schema):
                definitions[key] = self.enum(key, schema)
            elif is_model(schema):
                definitions[key] = self.object(key, schema)
        methods = tuple(self.method(m, definitions) for m in spec.methods)
        peers = tuple(self.method(m, definitions) for m in spec.peer_methods)
        errors = {e.name: e for m in (*methods, *peers) for e in m.errors}
        return Api(
            title=spec.title,
            version=spec.version,
            description=spec.description,
            definitions=definitions,
            methods=methods,
            peer_methods=peers,
            errors=dict(sorted(errors.items())),
        )

    def enum(self, key: str, schema: Mapping[str, Any]) -> EnumDef:
        names = schema.get("x-enum-varnames")
        return EnumDef(
            key=key,
            description=schema.get("description"),
            values=tuple(schema["enum"]),
            names=tuple(names) if isinstance(names, list) else None,
            mixin=schema.get("x-enum-mixin"),
        )

    def object(self, key: str, schema: Mapping[str, Any]) -> ObjectDef:
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            raise SchemaError(
                f"definition {key!r}: typed additionalProperties on a model is not supported"
            )
        required = set(schema.get("required", ()))
        fields = tuple(
            FieldDef(
                name=prop,
                type=self.type(_type_schema(sub)),
                required=prop in required,
                has_default="default" in sub,
                default=sub.get("default"),
                title=sub.get("title"),
                description=sub.get("description"),
                deprecated=sub.get("deprecated"),
                examples=sub.get("examples"),
            )
            for prop, sub in schema.get("properties", {}).items()
        )
        mode = "ignore"
        if extra is False:
            mode = "forbid"
        elif extra is True and "properties" in schema:
            mode = "allow"
        kind = schema.get("x-python-kind")
        return ObjectDef(
            key,
            schema.get("title"),
            schema.get("description"),
            fields,
            mode,
            kind if kind in OBJECT_KINDS else "model",
        )

    def method(self, method: MethodSpec, definitions: Mapping[str, Definition]) -> MethodDef:
        errors = []
        for error in method.errors:
            data = None
            if error.data is not None:
                ref = error.data.get("$ref")
                data = ref[len(_DEFS) :] if isinstance(ref, str) and ref.startswith(_DEFS) else None
                if not isinstance(definitions.get(data or ""), ObjectDef):
                    raise SchemaError(
                        f"error {error.name!r}: its data must be a model ($ref to an object "
                        "in $defs)"
                    )
            errors.append(ErrorDef(error.name, error.code, error.message, error.description, data))
        params = tuple(
            ParamDef(
                name=p.name,
                type=self.type(_type_schema(p.schema)),
                required=p.required,
                has_default="default" in p.schema,
                default=p.schema.get("default"),
            )
            for p in method.params
        )
        return MethodDef(
            name=method.name,
            description=method.description,
            deprecated=method.deprecated,
            params=params,
            result=self.type(method.result),
            errors=tuple(errors),
            stream=method.stream,
            scopes=method.scopes,
        )

    # -- schemas -> type trees ---------------------------------------------------------

    def type(self, schema: Mapping[str, Any] | bool) -> TypeNode:
        if schema is True or schema == {}:
            return Scalar("any")
        if not isinstance(schema, Mapping):
            raise SchemaError(f"cannot generate a type for the schema {schema!r}")
        base = self._base(schema)
        items = schema.get("prefixItems")
        constraints = tuple(
            (key, schema[key])
            for key in CONSTRAINTS
            if key in schema
            # a tuple's length is the tuple's
            and not (
                items is not None and key in ("minItems", "maxItems") and schema[key] == len(items)
            )
        )
        extra = {
            k: v
            for k, v in sorted(schema.items())
            if k not in _TYPE_KEYS and k not in FIELD_KEYS and not k.startswith("x-")
        }
        fmt = schema.get("format")
        known = fmt in FORMATS and (schema.get("type") == "string" or fmt == "decimal")
        if isinstance(fmt, str) and not known:
            extra["format"] = fmt
        if constraints or extra:
            return Constrained(base, constraints, tuple(extra.items()))
        return base

    def _base(self, schema: Mapping[str, Any]) -> TypeNode:
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "const" in schema:
            return LiteralOf((schema["const"],))
        if "enum" in schema:
            return LiteralOf(tuple(schema["enum"]))
        if "oneOf" in schema and "discriminator" in schema:
            options = tuple(self.type(s) for s in schema["oneOf"])
            return UnionOf(options, schema["discriminator"]["propertyName"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                if schema.get("format") == "decimal":
                    return Scalar("string", "decimal")
                return UnionOf(tuple(self.type(s) for s in schema[key]))
        if "allOf" in schema and len(schema["allOf"]) == 1:
            return self.type(schema["allOf"][0])
        kind = schema.get("type")
        if isinstance(kind, list):
            return UnionOf(tuple(self._base({**schema, "type": k}) for k in kind))
        if kind == "string" and schema.get("format") in FORMATS:
            return Scalar("string", schema["format"])
        if kind in _KINDS:
            return Scalar(kind)
        if kind == "array":
            if "prefixItems" in schema:
                if "items" in schema and schema["items"] is not False:
                    raise SchemaError("tuples with a variadic tail are not supported")
                return TupleOf(tuple(self.type(s) for s in schema["prefixItems"]))
            return ListOf(self.type(schema.get("items", True)), bool(schema.get("uniqueItems")))
        if kind == "object":
            if "properties" in schema:
                raise SchemaError(
                    f"an inline object with properties ({sorted(schema['properties'])}) has no "
                    "name to generate a model for; put it in $defs"
                )
            return MapOf(self.type(schema.get("additionalProperties", True)))
        if kind is None and not set(schema) & _TYPE_KEYS:
            return Scalar("any")
        raise SchemaError(f"cannot generate a type for the schema {dict(schema)!r}")

    def _ref(self, ref: str) -> TypeNode:
        if not ref.startswith(_DEFS):
            raise SchemaError(f"only local references (#/$defs/...) are supported, got {ref!r}")
        key = ref[len(_DEFS) :]
        schema = self.spec.defs.get(key)
        if schema is None:
            raise SchemaError(f"reference to an undefined definition {ref!r}")
        if is_enum(schema) or is_model(schema):
            return Ref(key)
        if key in self._inlining:
            raise SchemaError(f"definition {key!r} refers to itself and is not a model")
        self._inlining.append(key)
        try:
            return self.type(schema)
        finally:
            self._inlining.pop()


def _length(key: str) -> bool:
    # minItems/maxItems equal to a tuple's length say nothing the tuple does not.
    return key in ("minItems", "maxItems")


def _type_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in FIELD_KEYS}
