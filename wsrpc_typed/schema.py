"""Schema documents of a router: JSON Schema (draft 2020-12) and OpenRPC 1.3.

Rules of this module:

* A router is first described as an :class:`ApiSpec` (methods, params, results,
  declared errors, shared definitions); both documents are renderings of it,
  and both are read back into the same :class:`ApiSpec` here
  (:func:`spec_from_document`, which ``wsrpc_gen`` uses), so the document is
  the contract whatever its format, and writing and reading it sit together.
* Every type comes from pydantic's own JSON Schema generator, run once over
  every params, result and error data type of the router, so models shared by
  methods live once in ``$defs``. Params are described as the server validates
  them (validation mode), results and error data as it sends them
  (serialisation mode).
* Output is deterministic: :func:`render_json` sorts every key whose order means
  nothing and keeps the order of ``properties`` (field and param order), and
  methods are sorted by name.
* No I/O: this module imports neither asyncio nor websockets.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import ConfigDict, TypeAdapter
from pydantic.errors import PydanticUserError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from .errors import RpcError, SchemaError
from .registry import Method, Router

__all__ = [
    "DEFAULT_TITLE",
    "DEFAULT_VERSION",
    "JSON_SCHEMA_DESCRIPTION",
    "JSON_SCHEMA_DIALECT",
    "OPENRPC_VERSION",
    "ApiSpec",
    "ErrorSpec",
    "MethodSpec",
    "ParamSpec",
    "SchemaError",
    "WsrpcJsonSchema",
    "api_spec",
    "from_draft7",
    "jsonschema_document",
    "load_document",
    "map_subschemas",
    "openrpc_document",
    "render_json",
    "spec_from_document",
    "to_draft7",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
OPENRPC_VERSION = "1.3.2"
DEFAULT_TITLE = "wsrpc-typed API"
DEFAULT_VERSION = "0.0.0"
#: The JSON Schema document's description (after the API's own, when it has one).
JSON_SCHEMA_DESCRIPTION = (
    "The methods of this JSON-RPC 2.0 API by name: for each, its params object "
    "(params may also be sent by position, in the order listed), its result and "
    "its declared error objects."
)

_DEFS = "#/$defs/"
_COMPONENTS = "#/components/schemas/"
_ERRORS = "#/components/errors/"
_BYTES_CONFIG = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")
_JsonDict = dict[str, Any]
_ENUM_MIXINS = {"str": "str", "int": "int"}


class WsrpcJsonSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema generator, plus ``"format": "decimal"`` on decimals and
    the member names of enums.

    Without the format a decimal is indistinguishable from ``float | str`` (params)
    or ``str`` (results), and a client generated from the schema could not give
    it back its type. An enum lists its members' names in ``x-enum-varnames`` (in
    the order of ``enum``, the extension other generators read), and a ``str`` or
    ``int`` enum (``StrEnum``, ``IntEnum``, or ``class E(str, Enum)``) names its
    mixin in ``x-enum-mixin``, so that generated clients keep both. An object type
    that is a ``TypedDict`` or a dataclass says so in ``x-python-kind`` (``typeddict``,
    ``dataclass``; a model has none), so that a Python client declares the same kind.
    """

    def enum_schema(self, schema: core_schema.EnumSchema) -> JsonSchemaValue:
        """The enum's schema with ``x-enum-varnames`` (and ``x-enum-mixin``)."""
        value = super().enum_schema(schema)
        value["x-enum-varnames"] = [member.name for member in schema["members"]]
        mixin = _ENUM_MIXINS.get(schema.get("sub_type", ""))
        if mixin is not None:
            value["x-enum-mixin"] = mixin
        return value

    def typed_dict_schema(self, schema: core_schema.TypedDictSchema) -> JsonSchemaValue:
        """The TypedDict's schema with ``x-python-kind: typeddict``."""
        value = super().typed_dict_schema(schema)
        value["x-python-kind"] = "typeddict"
        return value

    def dataclass_schema(self, schema: core_schema.DataclassSchema) -> JsonSchemaValue:
        """The dataclass's schema with ``x-python-kind: dataclass``."""
        value = super().dataclass_schema(schema)
        value["x-python-kind"] = "dataclass"
        return value

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        """The decimal's schema with ``format: decimal``."""
        value = super().decimal_schema(schema)
        value["format"] = "decimal"
        return value


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter of a method.

    Attributes:
        name: The parameter's name (its key in by-name params).
        schema: Its JSON Schema; ``default`` holds its default, when it has one.
        required: Whether a call must pass it.
    """

    name: str
    schema: Mapping[str, Any]
    required: bool


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """An application error a method declares it may raise.

    Attributes:
        name: The error class's name.
        code: Its JSON-RPC error code.
        message: Its default message.
        description: Its docstring.
        data: The JSON Schema of its ``data`` (``None``: not declared, any value).
    """

    name: str
    code: int
    message: str
    description: str | None
    data: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One method: what it takes, returns and raises.

    Attributes:
        name: The wire name.
        description: The handler's docstring.
        deprecated: Whether the method is deprecated.
        params: Its parameters, in declaration order.
        result: The JSON Schema of its result (of each item, for a stream).
        errors: The application errors it declares, sorted by code then name.
        stream: Whether the method streams items (an ``async def`` generator handler).
        scopes: Scopes the caller's identity must hold, sorted.
    """

    name: str
    description: str | None
    deprecated: bool
    params: tuple[ParamSpec, ...]
    result: Mapping[str, Any]
    errors: tuple[ErrorSpec, ...]
    stream: bool = False
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiSpec:
    """Everything a schema document says about an API.

    Schemas refer to shared definitions as ``#/$defs/NAME``.

    Attributes:
        title: The API's title.
        version: The API's version.
        methods: Every method, sorted by name.
        defs: Shared schema definitions by name (of methods and peer methods alike).
        peer_methods: The methods the server calls on its clients (declared with
            ``router.peer``), sorted by name.
        description: What the API is for (``Router(description=...)``).
    """

    title: str
    version: str
    methods: tuple[MethodSpec, ...]
    defs: Mapping[str, Mapping[str, Any]]
    peer_methods: tuple[MethodSpec, ...] = ()
    description: str | None = None


# -- router -> ApiSpec ------------------------------------------------------------------


def _adapter(tp: Any) -> TypeAdapter[Any]:
    # Bytes travel as base64, as the registry's params and results do; types with
    # a config of their own (models) refuse an outer config and keep theirs.
    try:
        return TypeAdapter(tp, config=_BYTES_CONFIG)
    except PydanticUserError:
        return TypeAdapter(tp)


def _doc(cls: type) -> str | None:
    # inspect.getdoc would inherit RpcError's docstring; only the class's own counts.
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else None


def _error_classes(methods: Iterable[Method]) -> dict[str, type[RpcError]]:
    found: dict[str, type[RpcError]] = {}
    for method in methods:
        for error in method.errors:
            other = found.setdefault(error.__name__, error)
            if other is not error:
                raise SchemaError(
                    f"method {method.name!r}: two error classes are named {error.__name__!r} "
                    f"({other.__module__}.{other.__qualname__} and "
                    f"{error.__module__}.{error.__qualname__}); the schema names errors by "
                    "class name, rename one"
                )
    return found


def _default(method: Method, name: str) -> Any:
    hints = get_type_hints(method.func, include_extras=True)
    try:
        value = _adapter(hints[name]).dump_python(
            method.defaults[name], mode="json", warnings="error"
        )
        json.dumps(value, allow_nan=False)
    except Exception as exc:
        raise SchemaError(
            f"method {method.name!r}, parameter {name!r}: its default "
            f"{method.defaults[name]!r} cannot be written as JSON ({exc}); use a default "
            "that its type serialises to JSON"
        ) from exc
    return value


def api_spec(router: Router, *, title: str | None = None, version: str | None = None) -> ApiSpec:
    """Describe every method of ``router``, and the peer methods of ``router.peer``.

    Methods and peer methods share one set of definitions. The title and version
    are the arguments', else the router's, else :data:`DEFAULT_TITLE` and
    :data:`DEFAULT_VERSION`.

    Raises:
        SchemaError: a default cannot be written as JSON, or two declared error
            classes share a name.
    """
    sides = {
        "": sorted(router, key=lambda m: m.name),
        "peer": sorted(router.peer, key=lambda m: m.name),
    }
    errors = _error_classes([m for methods in sides.values() for m in methods])
    inputs: list[tuple[tuple[str, str, str], JsonSchemaMode, TypeAdapter[Any]]] = []
    for side, methods in sides.items():
        for method in methods:
            inputs.append(((side, method.name, "params"), "validation", method.params_adapter))
            inputs.append(((side, method.name, "result"), "serialization", method.result_adapter))
    for name, error in sorted(errors.items()):
        if error.data_model is not None:
            inputs.append((("error", name, "data"), "serialization", _adapter(error.data_model)))
    schemas, defs_holder = TypeAdapter.json_schemas(
        inputs, ref_template=_DEFS + "{model}", schema_generator=WsrpcJsonSchema
    )
    defs: dict[str, Any] = dict(defs_holder.get("$defs", {}))
    # Each params TypedDict became a definition of its own: inline it.
    # A method and a peer method of one name may share it.
    params_schemas: dict[tuple[str, str], Mapping[str, Any]] = {}
    for side, methods in sides.items():
        for method in methods:
            ref = schemas[((side, method.name, "params"), "validation")]["$ref"]
            params_schemas[side, method.name] = defs[ref[len(_DEFS) :]]
    for side, methods in sides.items():
        for method in methods:
            ref = schemas[((side, method.name, "params"), "validation")]["$ref"]
            defs.pop(ref[len(_DEFS) :], None)
    error_specs = {
        name: ErrorSpec(
            name=name,
            code=error.code,
            message=error.default_message,
            description=_doc(error),
            data=schemas[(("error", name, "data"), "serialization")]
            if error.data_model is not None
            else None,
        )
        for name, error in errors.items()
    }
    specs: dict[str, list[MethodSpec]] = {side: [] for side in sides}
    for side, methods in sides.items():
        for method in methods:
            params_schema = params_schemas[side, method.name]
            required = set(params_schema.get("required", ()))
            params = []
            for name, schema in params_schema.get("properties", {}).items():
                schema = dict(schema)
                if name in method.defaults:
                    schema["default"] = _default(method, name)
                params.append(ParamSpec(name=name, schema=schema, required=name in required))
            declared = sorted(
                {e.__name__: error_specs[e.__name__] for e in method.errors}.values(),
                key=_error_key,
            )
            specs[side].append(
                MethodSpec(
                    name=method.name,
                    description=method.doc,
                    deprecated=method.deprecated,
                    params=tuple(params),
                    result=schemas[((side, method.name, "result"), "serialization")],
                    errors=tuple(declared),
                    stream=method.stream,
                    scopes=tuple(sorted(method.scopes)),
                )
            )
    return ApiSpec(
        title=title or router.title or DEFAULT_TITLE,
        version=version or router.version or DEFAULT_VERSION,
        methods=tuple(specs[""]),
        defs=defs,
        peer_methods=tuple(specs["peer"]),
        description=router.description,
    )


def _error_key(error: ErrorSpec) -> tuple[int, str]:
    return (error.code, error.name)


def _spec(source: Router | ApiSpec) -> ApiSpec:
    return source if isinstance(source, ApiSpec) else api_spec(source)


# -- ApiSpec -> JSON Schema -----------------------------------------------------------


def _error_schema(error: ErrorSpec) -> _JsonDict:
    properties: _JsonDict = {
        "code": {"const": error.code},
        "message": {"type": "string", "default": error.message},
    }
    if error.data is not None:
        properties["data"] = dict(error.data)
    schema: _JsonDict = {
        "title": error.name,
        "type": "object",
        "properties": properties,
        "required": ["code", "message"],
    }
    if error.description is not None:
        schema["description"] = error.description
    return schema


def jsonschema_document(source: Router | ApiSpec) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) document of an API.

    The document is the schema of an object with one property per method,
    whose ``params`` is the method's JSON-RPC params object (by name), whose
    ``result`` is its result and whose ``error`` is one of its declared error
    objects (``code``, ``message``, typed ``data``). Docstrings are
    ``description``, deprecation is ``deprecated``; models live in ``$defs``. A
    streaming method has ``x-stream: true`` and ``result`` describes each item;
    required scopes are listed in ``x-scopes``. The methods the server calls on
    its clients (``router.peer``), when there are any, are described the same
    way in the ``x-peer-methods`` extension, by name.
    """
    spec = _spec(source)
    document: _JsonDict = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": spec.title,
        "x-version": spec.version,
        "description": JSON_SCHEMA_DESCRIPTION
        if spec.description is None
        else f"{spec.description}\n\n{JSON_SCHEMA_DESCRIPTION}",
        "type": "object",
        "properties": _jsonschema_calls(spec.methods),
        "additionalProperties": False,
        "$defs": dict(spec.defs),
    }
    if spec.peer_methods:
        document["x-peer-methods"] = _jsonschema_calls(spec.peer_methods)
    return document


def _jsonschema_calls(specs: Iterable[MethodSpec]) -> _JsonDict:
    methods: _JsonDict = {}
    for method in specs:
        params: _JsonDict = {
            "type": "object",
            "properties": {p.name: dict(p.schema) for p in method.params},
            "additionalProperties": False,
        }
        required = [p.name for p in method.params if p.required]
        if required:
            params["required"] = required
        call: _JsonDict = {
            "type": "object",
            "properties": {"params": params, "result": dict(method.result)},
        }
        if method.errors:
            call["properties"]["error"] = {"oneOf": [_error_schema(e) for e in method.errors]}
        if method.description is not None:
            call["description"] = method.description
        if method.deprecated:
            call["deprecated"] = True
        if method.stream:
            call["x-stream"] = True
        if method.scopes:
            call["x-scopes"] = list(method.scopes)
        methods[method.name] = call
    return methods


# -- ApiSpec -> OpenRPC ---------------------------------------------------------------


def openrpc_document(source: Router | ApiSpec) -> dict[str, Any]:
    """The OpenRPC 1.3 document of an API (what ``rpc.discover`` answers).

    OpenRPC schemas are JSON Schema draft 07: references point into
    ``components/schemas`` and tuples use the array form of ``items``. Declared
    errors live in ``components/errors``; the error class's docstring and the
    schema of its ``data`` (which the OpenRPC error object cannot hold) are in
    the document's ``x-error-details`` extension, by error name. A streaming
    method has ``x-stream: true`` and its result describes each item. The
    methods the server calls on its clients (``router.peer``), when there are
    any, are method objects in the ``x-peer-methods`` extension (an array, like
    ``methods``), sharing ``components``.
    """
    spec = _spec(source)
    errors: _JsonDict = {}
    details: _JsonDict = {}
    info: _JsonDict = {"title": spec.title, "version": spec.version}
    if spec.description is not None:
        info["description"] = spec.description
    document: _JsonDict = {
        "openrpc": OPENRPC_VERSION,
        "info": info,
        "methods": _openrpc_methods(spec.methods, errors, details),
    }
    if spec.peer_methods:
        document["x-peer-methods"] = _openrpc_methods(spec.peer_methods, errors, details)
    document["components"] = {
        "schemas": {name: to_draft7(schema) for name, schema in spec.defs.items()},
        "errors": errors,
    }
    document["x-error-details"] = details
    return document


def _openrpc_methods(
    specs: Iterable[MethodSpec], errors: _JsonDict, details: _JsonDict
) -> list[_JsonDict]:
    # Method objects; the errors they declare are added to ``errors`` and ``details``.
    methods = []
    for method in specs:
        obj: _JsonDict = {
            "name": method.name,
            "paramStructure": "either",
            "params": [
                {"name": p.name, "required": p.required, "schema": to_draft7(p.schema)}
                for p in method.params
            ],
            "result": {"name": "result", "schema": to_draft7(method.result)},
        }
        if method.description is not None:
            obj["description"] = method.description
        if method.deprecated:
            obj["deprecated"] = True
        if method.stream:
            obj["x-stream"] = True
        if method.scopes:
            obj["x-scopes"] = list(method.scopes)
        if method.errors:
            obj["errors"] = [{"$ref": _ERRORS + e.name} for e in method.errors]
        for error in method.errors:
            errors[error.name] = {"code": error.code, "message": error.message}
            detail: _JsonDict = {}
            if error.description is not None:
                detail["description"] = error.description
            if error.data is not None:
                detail["data"] = to_draft7(error.data)
            details[error.name] = detail
        methods.append(obj)
    return methods


# -- schema rewriting -----------------------------------------------------------------

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_ONE = (
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def map_subschemas(
    schema: Mapping[str, Any], fn: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Rebuild ``schema`` bottom-up, passing every (sub)schema object through ``fn``.

    Only schema positions are visited: values such as ``default``, ``const`` or
    ``enum`` are data and are left alone, and a property called ``items`` is a
    property, not the keyword.
    """

    def one(value: Any) -> Any:
        return map_subschemas(value, fn) if isinstance(value, Mapping) else value

    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: one(sub) for name, sub in value.items()}
        elif key in _SCHEMA_ONE or (key == "items" and isinstance(value, Mapping)):
            out[key] = one(value)
        elif (key in _SCHEMA_LISTS or key == "items") and isinstance(value, list):
            out[key] = [one(sub) for sub in value]
        else:
            out[key] = value
    return fn(out)


def _rewrite_refs(node: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(old):
        node["$ref"] = new + ref[len(old) :]
    discriminator = node.get("discriminator")
    if isinstance(discriminator, Mapping) and isinstance(discriminator.get("mapping"), Mapping):
        node["discriminator"] = {
            **discriminator,
            "mapping": {
                k: new + v[len(old) :] if isinstance(v, str) and v.startswith(old) else v
                for k, v in discriminator["mapping"].items()
            },
        }
    return node


def _node_to_draft7(node: dict[str, Any]) -> dict[str, Any]:
    node = _rewrite_refs(node, _DEFS, _COMPONENTS)
    if "prefixItems" in node:
        # Draft 2020-12 tuples (prefixItems + items) are draft 07's items array
        # + additionalItems.
        prefix = node.pop("prefixItems")
        rest = node.pop("items", None)
        node["items"] = prefix
        if rest is not None:
            node["additionalItems"] = rest
    return node


def _node_from_draft7(node: dict[str, Any]) -> dict[str, Any]:
    node = _rewrite_refs(node, _COMPONENTS, _DEFS)
    if isinstance(node.get("items"), list):
        node["prefixItems"] = node.pop("items")
        rest = node.pop("additionalItems", None)
        if rest is not None:
            node["items"] = rest
    return node


def to_draft7(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A draft 2020-12 schema of an :class:`ApiSpec`, as OpenRPC (draft 07) writes it."""
    return map_subschemas(schema, _node_to_draft7)


def from_draft7(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`to_draft7`."""
    return map_subschemas(schema, _node_from_draft7)


# -- output ---------------------------------------------------------------------------

_DATA_KEYS = frozenset({"default", "const", "enum", "examples"})


def _canonical(value: Any, *, names: bool = False, data: bool = False) -> Any:
    if isinstance(value, Mapping):
        if names:  # a "properties" map: its order is the fields' order
            return {k: _canonical(v) for k, v in value.items()}
        return {
            k: _canonical(
                value[k],
                names=not data and k == "properties" and isinstance(value[k], Mapping),
                data=data or k in _DATA_KEYS,
            )
            for k in sorted(value)
        }
    if isinstance(value, list | tuple):
        return [_canonical(v, data=data) for v in value]
    return value


def render_json(document: Mapping[str, Any]) -> str:
    """The canonical text of a document: same document, same text.

    Keys are sorted, except inside ``properties`` (whose order is the order of
    fields and params); two-space indents; a trailing newline.
    """
    return json.dumps(_canonical(document), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# -- reading documents back (what wsrpc-gen reads) ---------------------------------------


def _not_json(constant: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (and every other reader) does not.
    raise SchemaError(f"not a JSON document: {constant} is not a JSON value")


def load_document(text: str) -> dict[str, Any]:
    """Parse a document's JSON text.

    Raises:
        SchemaError: the text is not a JSON object.
    """
    try:
        document = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not a JSON document: {exc}") from exc
    if not isinstance(document, dict):
        raise SchemaError("a schema document is a JSON object")
    return document


def spec_from_document(document: Mapping[str, Any]) -> ApiSpec:
    """Read a JSON Schema or OpenRPC document (as :mod:`wsrpc_typed.schema` writes them).

    Raises:
        SchemaError: the document is neither, or lacks what a method needs.
    """
    try:
        if "openrpc" in document:
            return _read_openrpc(document)
        if document.get("$schema") == JSON_SCHEMA_DIALECT:
            return _read_jsonschema(document)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SchemaError(f"malformed schema document: {type(exc).__name__}: {exc}") from exc
    raise SchemaError(
        "not a wsrpc-typed schema document: expected an OpenRPC document ('openrpc') or a "
        f"JSON Schema document ('$schema': {JSON_SCHEMA_DIALECT!r})"
    )


def _read_openrpc(document: Mapping[str, Any]) -> ApiSpec:
    components = document.get("components", {})
    info = document.get("info", {})
    return ApiSpec(
        title=info.get("title", DEFAULT_TITLE),
        version=info.get("version", DEFAULT_VERSION),
        methods=_read_openrpc_methods(document["methods"], document),
        defs={k: from_draft7(v) for k, v in components.get("schemas", {}).items()},
        peer_methods=_read_openrpc_methods(document.get("x-peer-methods", ()), document),
        description=info.get("description"),
    )


def _read_openrpc_methods(
    objects: Iterable[Any], document: Mapping[str, Any]
) -> tuple[MethodSpec, ...]:
    error_objects = document.get("components", {}).get("errors", {})
    details = document.get("x-error-details", {})
    methods = []
    for obj in objects:
        errors = []
        for ref in obj.get("errors", ()):
            if "$ref" in ref:
                name = ref["$ref"].removeprefix(_ERRORS)
                error = error_objects[name]
            else:  # an inline error object: no name of its own, no typed data
                name, error = f"Error{ref['code']}".replace("-", "_"), ref
            detail = details.get(name, {})
            errors.append(
                ErrorSpec(
                    name=name,
                    code=error["code"],
                    message=error["message"],
                    description=detail.get("description"),
                    data=from_draft7(detail["data"]) if "data" in detail else None,
                )
            )
        methods.append(
            MethodSpec(
                name=obj["name"],
                description=obj.get("description"),
                deprecated=obj.get("deprecated", False),
                params=tuple(
                    ParamSpec(
                        name=p["name"],
                        schema=from_draft7(p["schema"]),
                        required=p.get("required", False),
                    )
                    for p in obj["params"]
                ),
                result=from_draft7(obj["result"]["schema"]),
                errors=tuple(errors),
                stream=obj.get("x-stream", False),
                scopes=tuple(obj.get("x-scopes", ())),
            )
        )
    return tuple(sorted(methods, key=lambda m: m.name))


def _read_jsonschema(document: Mapping[str, Any]) -> ApiSpec:
    return ApiSpec(
        title=document.get("title", DEFAULT_TITLE),
        version=document.get("x-version", DEFAULT_VERSION),
        methods=_read_jsonschema_methods(document.get("properties", {})),
        defs=dict(document.get("$defs", {})),
        peer_methods=_read_jsonschema_methods(document.get("x-peer-methods", {})),
        description=_own_description(document.get("description")),
    )


def _own_description(text: Any) -> str | None:
    # The document's description is the API's, then the fixed text about the document.
    if not isinstance(text, str):
        return None
    own = text.removesuffix(JSON_SCHEMA_DESCRIPTION).rstrip("\n")
    return own or None


def _read_jsonschema_methods(calls: Mapping[str, Any]) -> tuple[MethodSpec, ...]:
    methods = []
    for name, call in calls.items():
        parts = call["properties"]
        params = parts["params"]
        required = set(params.get("required", ()))
        errors = []
        for error in parts.get("error", {}).get("oneOf", ()):
            props = error["properties"]
            errors.append(
                ErrorSpec(
                    name=error["title"],
                    code=props["code"]["const"],
                    message=props["message"]["default"],
                    description=error.get("description"),
                    data=props.get("data"),
                )
            )
        methods.append(
            MethodSpec(
                name=name,
                description=call.get("description"),
                deprecated=call.get("deprecated", False),
                params=tuple(
                    ParamSpec(name=p, schema=schema, required=p in required)
                    for p, schema in params.get("properties", {}).items()
                ),
                result=parts["result"],
                errors=tuple(errors),
                stream=call.get("x-stream", False),
                scopes=tuple(call.get("x-scopes", ())),
            )
        )
    return tuple(sorted(methods, key=lambda m: m.name))
