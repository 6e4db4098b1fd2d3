"""Stage 2: build the client module's IR from an :class:`ApiSpec`.

Rules of this module:

* Every decision is made here: class, method, param and constant names, type
  expressions, imports, defaults, docstrings and line layout. The templates
  (stage 3) only place the strings.
* Names never collide silently. Definitions, errors and the client class share
  one namespace with the module's imports; a definition whose name is taken
  gets a numbered suffix (its schema ``title`` is kept, so its JSON Schema is
  unchanged). Two methods or two params that map to the same Python name are
  rejected with a message naming both.
* Output depends on the spec only: everything is visited in sorted order.
"""

from __future__ import annotations

import base64
import builtins
import keyword
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from wsrpc_typed.schema import ApiSpec, ErrorSpec, MethodSpec, SchemaError

from .ir import (
    ClientClass,
    ClientMethod,
    EnumClass,
    EnumMember,
    ErrorClass,
    ModelClass,
    ModelField,
    Module,
)
from .pyexpr import Group, bytes_literal, docstring, identifier, layout, py_literal
from .types import FIELD_KEYS, TypeMapper

__all__ = ["CodegenError", "build_module"]

_DEFS = "#/$defs/"
_RUNTIME = (
    "BaseModel",
    "Client",
    "ConfigDict",
    "Field",
    "RemoteMethod",
    "RemoteStream",
    "RpcError",
)
_TYPING = ("Annotated", "Any", "Final", "Literal")
_STDLIB_MODULES = ("datetime", "decimal", "enum", "uuid")
#: Names a generated class may not take: imports, builtins used in annotations, `deprecated`.
_TAKEN = frozenset(
    {
        *_RUNTIME,
        *_TYPING,
        *_STDLIB_MODULES,
        "AsyncIterator",
        "deprecated",
        "annotations",
        *dir(builtins),
    }
)
_MODEL_ATTRIBUTES = frozenset(dir(BaseModel))


class CodegenError(SchemaError):
    """The schema cannot be turned into a client; the message says where and why."""


def _class_name(key: str) -> str:
    # "Span-Input" -> "SpanInput", "pkg__mod__Point" -> "pkg__mod__Point".
    parts = re.split(r"[^0-9A-Za-z_]+", key)
    name = "".join(p[:1].upper() + p[1:] for p in parts if p) or "Model"
    return name.lstrip("_") or "Model"


class _Namespace:
    """Module-level names handed out so far."""

    def __init__(self, taken: Iterable[str]) -> None:
        self._taken = set(taken)

    def claim(self, wanted: str) -> str:
        name = identifier(wanted)
        candidate, n = name, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{name}{n}"
        self._taken.add(candidate)
        return candidate


def _is_enum(schema: Mapping[str, Any]) -> bool:
    return "enum" in schema and "properties" not in schema


def _is_model(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "object" and (
        "properties" in schema or schema.get("additionalProperties") is not True
    )


def _member_name(value: Any) -> str:
    if isinstance(value, str):
        text = re.sub(r"\W+", "_", value, flags=re.ASCII).strip("_").upper()
        if not text or text[0].isdigit():
            text = "V_" + text
        return text
    if isinstance(value, bool) or value is None:
        return str(value).upper()
    return "VALUE_" + str(value).replace("-", "MINUS_").replace(".", "_")


class _Builder:
    def __init__(self, spec: ApiSpec, class_name: str) -> None:
        self.spec = spec
        if not class_name.isidentifier() or keyword.iskeyword(class_name):
            raise CodegenError(f"--class-name {class_name!r} is not a Python identifier")
        if class_name in _TAKEN:
            raise CodegenError(
                f"--class-name {class_name!r} would shadow a name the module imports; pick another"
            )
        self.class_name = class_name
        self.namespace = _Namespace({*_TAKEN, class_name})
        self.names: dict[str, str] = {}
        aliases: dict[str, Mapping[str, Any]] = {}
        for key, schema in sorted(spec.defs.items()):
            if _is_enum(schema) or _is_model(schema):
                self.names[key] = self.namespace.claim(_class_name(key))
            else:
                aliases[key] = schema
        self.types = TypeMapper(self.names, aliases)
        self.errors = {
            e.name: e for m in spec.methods for e in m.errors
        }  # unique by name (the schema names errors by class)
        self.error_names = {name: self.namespace.claim(name) for name in sorted(self.errors)}

    # -- definitions ------------------------------------------------------------

    def enum_class(self, key: str, schema: Mapping[str, Any]) -> EnumClass:
        members, used = [], set()
        for value in schema["enum"]:
            name = _member_name(value)
            candidate, n = name, 1
            while candidate in used or candidate.startswith("_"):
                n += 1
                candidate = f"{name}_{n}"
            used.add(candidate)
            members.append(EnumMember(candidate, py_literal(value)))
        self.types.imports.add("enum")
        return EnumClass(
            self.names[key], self._doc(schema.get("description"), "    "), tuple(members)
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
        if has_default and len(kwargs) == 1 and _scalar(schema["default"]):
            return ModelField((f"    {head} = {self._value(schema['default'], schema)}",))
        if not kwargs:
            return ModelField((f"    {head}",))
        self.types.imports.add("stubs.Field")
        return ModelField(tuple(layout(Group(f"{head} = Field", "(", tuple(kwargs), ")"), "    ")))

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
            if _is_enum(target) and value in target["enum"]:
                enum_ir = self.enum_class(ref[len(_DEFS) :], target)
                member = enum_ir.members[list(target["enum"]).index(value)]
                return f"{enum_ir.name}.{member.name}"
        return py_literal(value)

    # -- errors -------------------------------------------------------------------

    def error_class(self, error: ErrorSpec) -> ErrorClass:
        data_model = None
        if error.data is not None:
            ref = error.data.get("$ref")
            key = ref[len(_DEFS) :] if isinstance(ref, str) and ref.startswith(_DEFS) else None
            if key is None or key not in self.names or not _is_model(self.spec.defs[key]):
                raise CodegenError(
                    f"error {error.name!r}: its data must be a model ($ref to an object in $defs)"
                )
            data_model = self.names[key]
        self.types.imports.add("stubs.RpcError")
        return ErrorClass(
            name=self.error_names[error.name],
            docstring=self._doc(
                error.description or f"{error.message} (code {error.code}).", "    "
            ),
            code=py_literal(error.code),
            message=py_literal(error.message),
            data_model=data_model,
        )

    # -- methods ------------------------------------------------------------------

    def client_method(self, method: MethodSpec, used: dict[str, str]) -> ClientMethod:
        name = identifier(method.name, reserved=frozenset({"_connection"}))
        if name.startswith("__"):
            name = name.lstrip("_") or "call"
        if name in used:
            raise CodegenError(
                f"methods {used[name]!r} and {method.name!r} both map to the Python method "
                f"name {name!r}; rename one on the server"
            )
        used[name] = method.name
        constant = self.namespace.claim("_" + re.sub(r"\W", "_", method.name).upper())
        params: list[str] = []
        param_types: list[str] = []
        call_args: list[str] = []
        taken: dict[str, str] = {}
        for param in method.params:
            attr = identifier(param.name)
            if attr in taken:
                raise CodegenError(
                    f"method {method.name!r}: params {taken[attr]!r} and {param.name!r} both map "
                    f"to the Python name {attr!r}"
                )
            taken[attr] = param.name
            type_schema = {k: v for k, v in param.schema.items() if k not in FIELD_KEYS}
            annotation = self.types.expr(type_schema)
            if "default" in param.schema and not param.required:
                default = param.schema["default"]
                if not _scalar(default) and "$ref" not in param.schema:
                    raise CodegenError(
                        f"method {method.name!r}, param {param.name!r}: its default "
                        f"{default!r} is not a scalar; generated signatures support None, "
                        "bool, number, string and enum defaults"
                    )
                params.append(f"{attr}: {annotation} = {self._value(default, param.schema)}")
            elif not param.required:
                raise CodegenError(
                    f"method {method.name!r}, param {param.name!r}: optional without a default"
                )
            else:
                params.append(f"{attr}: {annotation}")
            param_types.append(f"{py_literal(param.name)}: {annotation}")
            call_args.append(f"{py_literal(param.name)}: {attr}")
        receiver = "self"
        while receiver in taken:
            receiver += "_"
        result = self.types.expr(method.result)
        error_names = [self.error_names[e.name] for e in method.errors]
        args: list[str | Group] = [
            py_literal(method.name),
            Group("", "{", tuple(param_types), "}"),
            result,
        ]
        if error_names:
            args.append(Group("", "[", tuple(error_names), "]"))
        helper = "RemoteStream" if method.stream else "RemoteMethod"
        self.types.imports.update({f"stubs.{helper}", "typing.Final"})
        constant_lines = layout(
            Group(f"{constant}: Final = {helper}[{result}]", "(", tuple(args), ")"), ""
        )
        signature_items = (receiver, *(("*", *params) if params else ()))
        if method.stream:
            # A plain def that returns the helper's async generator: iterate it directly.
            self.types.imports.add("collections.abc.AsyncIterator")
            head, returns, call = f"def {name}", f"AsyncIterator[{result}]", "return "
        else:
            head, returns, call = f"async def {name}", result, "return await "
        signature = layout(
            Group(head, "(", tuple(signature_items), ")", f" -> {returns}"), "    ", ":"
        )
        body = layout(
            Group(
                f"{call}{constant}",
                "(",
                (f"{receiver}._connection", Group("", "{", tuple(call_args), "}")),
                ")",
            ),
            "        ",
        )
        decorators: tuple[str, ...] = ()
        if method.deprecated:
            self.types.imports.add("stubs.deprecated")
            decorators = (f"    @deprecated({py_literal(f'{method.name} is deprecated')})",)
        doc = method.description or ""
        if method.errors:
            raises = "\n".join(
                f"    {self.error_names[e.name]}: {e.message}" for e in method.errors
            )
            doc = f"{doc}\n\nRaises:\n{raises}" if doc else f"Raises:\n{raises}"
        return ClientMethod(
            name=name,
            constant=tuple(constant_lines),
            decorators=decorators,
            signature=tuple(signature),
            docstring=self._doc(doc or None, "        "),
            body=tuple(body),
        )

    @staticmethod
    def _doc(text: str | None, indent: str) -> str | None:
        return None if text is None else docstring(text, indent)

    # -- the module ---------------------------------------------------------------

    def module(self, schema_hash: str, version: str) -> Module:
        enums, models = [], []
        for key, schema in sorted(self.spec.defs.items()):
            if key not in self.names:
                continue
            if _is_enum(schema):
                enums.append(self.enum_class(key, schema))
            else:
                models.append(self.model_class(key, schema))
        used: dict[str, str] = {}
        methods = [self.client_method(m, used) for m in self.spec.methods]
        errors = [self.error_class(self.errors[name]) for name in sorted(self.errors)]
        self.types.imports.add("stubs.Client")
        spec = self.spec
        client = ClientClass(
            name=self.class_name,
            docstring=docstring(
                f"Typed calls to {spec.title} (version {spec.version}).\n\n"
                "Args:\n    connection: A connection from ``wsrpc_typed.connect(url)``.",
                "    ",
            ),
            receiver="self",
            methods=tuple(methods),
        )
        imports = self.types.imports
        stdlib = [f"import {m}" for m in _STDLIB_MODULES if m in imports]
        if "collections.abc.AsyncIterator" in imports:
            stdlib.append("from collections.abc import AsyncIterator")
        typing_names = [n for n in _TYPING if f"typing.{n}" in imports]
        if typing_names:
            stdlib.append(f"from typing import {', '.join(typing_names)}")
        runtime = sorted(n.split(".", 1)[1] for n in imports if n.startswith("stubs."))
        runtime_import = layout(
            Group("from wsrpc_typed.stubs import ", "(", tuple(runtime), ")"), "", explode=True
        )
        if len(runtime_import) == 1:
            runtime_import = [f"from wsrpc_typed.stubs import {', '.join(runtime)}"]
        all_names = sorted(
            [self.class_name, *(e.name for e in enums), *(m.name for m in models)]
            + [e.name for e in errors]
        )
        return Module(
            header=(
                f"# Generated by wsrpc-gen {version}. DO NOT EDIT.",
                f"# Schema: sha256:{schema_hash}",
                "# Regenerate with `wsrpc-gen client SOURCE -o FILE` (see docs/codegen.md).",
            ),
            docstring=docstring(
                f"Typed client of {spec.title} (version {spec.version}), generated from its "
                "schema.",
                "",
            ),
            imports=tuple(stdlib),
            runtime_import=tuple(runtime_import),
            all_names=tuple(all_names),
            enums=tuple(enums),
            models=tuple(models),
            errors=tuple(errors),
            client=client,
        )


_TYPED_STRINGS = {
    "base64url": ("", ""),
    "binary": ("", ""),
    "decimal": ("decimal", "decimal.Decimal"),
    "date-time": ("datetime", "datetime.datetime.fromisoformat"),
    "date": ("datetime", "datetime.date.fromisoformat"),
    "time": ("datetime", "datetime.time.fromisoformat"),
    "uuid": ("uuid", "uuid.UUID"),
}


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _needs_validation(value: Any, schema: Mapping[str, Any]) -> bool:
    # A JSON object or array default of a model-typed field: validate it into the model.
    return not _scalar(value) and "$ref" in schema


def _is_base64(schema: Any) -> bool:
    if isinstance(schema, Mapping):
        if schema.get("format") == "base64url":
            return True
        return any(_is_base64(v) for k, v in schema.items() if k not in FIELD_KEYS)
    if isinstance(schema, list):
        return any(_is_base64(v) for v in schema)
    return False


def build_module(spec: ApiSpec, *, class_name: str, schema_hash: str, version: str) -> Module:
    """Decide the whole client module for ``spec``.

    Raises:
        CodegenError: a name cannot be given without a collision, or the schema
            uses a construct the generator cannot reproduce.
    """
    try:
        return _Builder(spec, class_name).module(schema_hash, version)
    except CodegenError:
        raise
    except SchemaError as exc:
        raise CodegenError(str(exc)) from exc
