"""Build the TypeScript client module's parts from the API model.

Rules of this module:

* Every decision is made here: type, method, member and param names, type
  expressions, doc comments and line layout. The templates only place the strings.
* Names never collide silently: definitions, errors, the client class and the
  handlers interface share one namespace with the runtime's exports (a definition
  whose name is taken gets a numbered suffix); two methods that map to the same
  member name are rejected with a message naming both.
* Output depends on the model only: definitions and methods come sorted.
* Declared param defaults travel: a call fills in those its caller leaves out, and the
  registration fills in those the server leaves out of its calls to the client, so the
  handler sees them (its params type has them required). Each is the declared JSON as
  an object literal in the generated code: new values each call, never one shared.
* A discriminated union's property is required in each option's interface, default or
  not: the server tells the options apart by it, so a value without it is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wsrpc_typed.errors import CodegenError

from ..model import (
    Api,
    EnumDef,
    ErrorDef,
    FieldDef,
    MethodDef,
    ObjectDef,
    ParamDef,
    TypeNode,
    refs,
)
from .naming import (
    Namespace,
    doc_comment,
    is_identifier,
    literal,
    member_name,
    property_key,
    type_name,
)
from .types import TypeMapper, notes, tagged_options

__all__ = [
    "ClientMethod",
    "EnumType",
    "ErrorType",
    "HandlerMethod",
    "Module",
    "ObjectType",
    "build_module",
    "handlers_name",
]

#: Line length the layout keeps to, where a line can be broken.
LINE_LENGTH = 100
#: Members of the client class that methods may not take.
_CLIENT_MEMBERS = frozenset({"connection", "close", "notify", "connect", "constructor"})
#: The registration function's name.
REGISTER = "registerHandlers"
#: The runtime's function that fills in declared defaults.
WITH_DEFAULTS = "withDefaults"


@dataclass(frozen=True, slots=True)
class EnumType:
    """A ``const`` object of the members by name, and the type of their values."""

    name: str
    doc: tuple[str, ...]
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ObjectType:
    """An interface: each field is its doc lines and its ``key?: type;`` line."""

    name: str
    doc: tuple[str, ...]
    fields: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class ErrorType:
    """A subclass of ``RpcError``, with its ``data`` type."""

    name: str
    doc: tuple[str, ...]
    base: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ClientMethod:
    """One method of the client class: doc lines, signature lines, body lines."""

    doc: tuple[str, ...]
    signature: tuple[str, ...]
    body: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HandlerMethod:
    """One method of the handlers interface and its registration lines."""

    doc: tuple[str, ...]
    signature: tuple[str, ...]
    registration: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Module:
    """The whole module, as the template places it."""

    header: tuple[str, ...]
    doc: tuple[str, ...]
    enums: tuple[EnumType, ...]
    objects: tuple[ObjectType, ...]
    errors: tuple[ErrorType, ...]
    class_name: str
    class_doc: tuple[str, ...]
    methods: tuple[ClientMethod, ...]
    notifications: tuple[str, ...]
    handlers_name: str | None
    handlers_doc: tuple[str, ...]
    handlers: tuple[HandlerMethod, ...]
    register: str


def handlers_name(class_name: str) -> str:
    """The handlers interface's default name: ``ChatClient`` -> ``ChatHandlers``."""
    return f"{class_name.removesuffix('Client') or class_name}Handlers"


def _member_names(values: Sequence[Any], declared: Sequence[Any] | None) -> list[str]:
    usable = (
        declared is not None
        and len(declared) == len(values)
        and all(isinstance(n, str) and is_identifier(n) for n in declared)
        and len(set(declared)) == len(declared)
    )
    names: list[str] = []
    for index, value in enumerate(values):
        if usable:
            assert declared is not None
            name = str(declared[index])
        elif isinstance(value, str):
            name = re.sub(r"\W+", "_", value, flags=re.ASCII).strip("_").upper() or "EMPTY"
            name = "V_" + name if name[0].isdigit() else name
        elif isinstance(value, bool) or value is None:
            name = str(value).upper()
        else:
            name = "VALUE_" + str(value).replace("-", "MINUS_").replace(".", "_")
        candidate, n = name, 1
        while candidate in names:
            n += 1
            candidate = f"{name}_{n}"
        names.append(candidate)
    return names


class _Builder:
    def __init__(self, api: Api, class_name: str, handlers: str) -> None:
        self.api = api
        if not is_identifier(class_name):
            raise CodegenError(f"--class-name {class_name!r} is not a TypeScript identifier")
        self.namespace = Namespace()
        for option, name in (("--class-name", class_name), ("--handlers-name", handlers)):
            if name in self.namespace or name == REGISTER:
                raise CodegenError(
                    f"{option} {name!r} would shadow a name the module defines; pick another"
                )
        if api.peer_methods and handlers == class_name:
            raise CodegenError(f"--handlers-name and --class-name are both {class_name!r}")
        self.class_name = self.namespace.claim(class_name)
        self.handlers_name = self.namespace.claim(handlers) if api.peer_methods else None
        self.namespace.claim(REGISTER)
        self.names = {key: self.namespace.claim(type_name(key)) for key in api.definitions}
        self.types = TypeMapper(self.names)
        self.error_names = {name: self.namespace.claim(name) for name in sorted(api.errors)}
        # What this client sends (its params, its answers to the server) and what it reads.
        sent = [p.type for m in api.methods for p in m.params]
        sent += [m.result for m in api.peer_methods]
        self.sent = _reach(api, sent)
        every = [p.type for m in (*api.methods, *api.peer_methods) for p in m.params]
        every += [m.result for m in (*api.methods, *api.peer_methods)]
        every += [
            f.type for d in api.definitions.values() if isinstance(d, ObjectDef) for f in d.fields
        ]
        self.tags: dict[str, set[str]] = {}
        for node in every:
            for key, tag in tagged_options(node):
                self.tags.setdefault(key, set()).add(tag)

    def _read_only(self, key: str) -> bool:
        """Whether the client only reads values of definition ``key``: the server writes
        every field, so a field with a default is always there."""
        return key not in self.sent

    # -- definitions ------------------------------------------------------------------

    def enum(self, enum: EnumDef) -> EnumType:
        names = _member_names(enum.values, enum.names)
        return EnumType(
            name=self.names[enum.key],
            doc=doc_comment(enum.description, ""),
            members=tuple(f"  {n}: {literal(v)}," for n, v in zip(names, enum.values, strict=True)),
        )

    def object(self, model: ObjectDef) -> ObjectType:
        read_only = self._read_only(model.key)
        tags = self.tags.get(model.key, set())
        fields = [self.field(f, read_only, f.name in tags) for f in model.fields]
        if model.extra == "allow":
            fields.append(
                ("  /** Properties beyond these are kept. */", "  [key: string]: unknown;")
            )
        return ObjectType(self.names[model.key], doc_comment(model.description, ""), tuple(fields))

    def field(self, field: FieldDef, read_only: bool, tag: bool = False) -> tuple[str, ...]:
        about = [field.description] if field.description else []
        about += self._notes(field.type, field.has_default, field.default)
        doc = list(doc_comment("\n".join(about), "  "))
        if field.deprecated:
            doc = _deprecated(doc, "  ")
        required = field.required or tag or (read_only and field.has_default)
        optional = "" if required else "?"
        key = property_key(field.name)
        return (*doc, f"  {key}{optional}: {self.types.expr(field.type)};")

    def _notes(self, node: Any, has_default: bool, default: Any) -> list[str]:
        found = notes(node)
        if has_default:
            found.append(f"@defaultValue `{literal(default)}`")
        return found

    def error(self, error: ErrorDef) -> ErrorType:
        data = "" if error.data is None else f"<{self.names[error.data]}>"
        doc = error.description or f"{error.message} (code {error.code})."
        return ErrorType(
            name=self.error_names[error.name],
            doc=doc_comment(doc, ""),
            base=f"RpcError{data}",
            code=str(error.code),
            message=literal(error.message),
        )

    # -- methods --------------------------------------------------------------------

    def params_type(self, params: Sequence[ParamDef], indent: str, filled: bool = False) -> str:
        """``{ a: T; b?: U }``; one property a line, indented from ``indent``, when any has a
        doc comment or the line would be long. ``filled``: defaults are filled in, so a
        param with one is required."""
        entries: list[tuple[tuple[str, ...], str]] = []
        for p in params:
            about = self._notes(p.type, p.has_default, p.default)
            optional = "" if p.required or (filled and p.has_default) else "?"
            line = f"{property_key(p.name)}{optional}: {self.types.expr(p.type)};"
            entries.append((doc_comment("\n".join(about), indent + "  "), line))
        if not entries:
            return "Record<string, never>"
        if not any(doc for doc, _ in entries):
            flat = "{ " + " ".join(line for _, line in entries)[:-1] + " }"
            if len(indent) + len(flat) <= LINE_LENGTH - 40:
                return flat
        lines = ["{"]
        for doc, line in entries:
            lines += [*doc, f"{indent}  {line}"]
        return "\n".join([*lines, f"{indent}}}"])

    def method_doc(self, method: MethodDef, summary: str, indent: str) -> tuple[str, ...]:
        text = method.description or summary
        for error in method.errors:
            text += f"\n@throws {{@link {self.error_names[error.name]}}} {error.message}"
        doc = list(doc_comment(text, indent))
        return tuple(_deprecated(doc, indent) if method.deprecated else doc)

    def client_methods(self) -> tuple[list[ClientMethod], list[str]]:
        used: dict[str, str] = {}
        methods, notifications = [], []
        for method in self.api.methods:
            name = member_name(method.name, reserved=_CLIENT_MEMBERS)
            if name in used:
                raise CodegenError(
                    f"methods {used[name]!r} and {method.name!r} both map to the TypeScript "
                    f"member name {name!r}; rename one on the server"
                )
            used[name] = method.name
            result = self.types.expr(method.result)
            params = self.params_type(method.params, "  ")
            optional = all(not p.required for p in method.params)
            if not method.params:
                head = f"  {name}("
            elif optional:
                head = f"  {name}(params: {params} = {{}}, "
            else:
                head = f"  {name}(params: {params}, "
            args = "{}" if not method.params else _with_defaults(method.params, "    ")
            errors = ", ".join(self.error_names[e.name] for e in method.errors)
            tail = f", [{errors}]" if errors else ""
            wire = literal(method.name)
            if method.stream:
                signature = f"{head}options?: StreamOptions): RpcStream<{result}> {{"
                body = f"    return this.connection.stream({wire}, {args}, options{tail});"
            else:
                returns = "void" if result == "null" else result
                signature = f"{head}options?: CallOptions): Promise<{returns}> {{"
                body = f"    return this.connection.call({wire}, {args}, options{tail});"
                if returns == "void":
                    inner = self.params_type(method.params, "    ")
                    argument = f"params: {inner}" if method.params else ""
                    notifications.append(
                        f"    {name}: ({argument}): Promise<void> => "
                        f"this.connection.notify({wire}, {args}),"
                    )
            summary = f"Call `{method.name}` on the server."
            methods.append(
                ClientMethod(
                    doc=self.method_doc(method, summary, "  "),
                    signature=tuple(signature.split("\n")),
                    body=tuple(body.split("\n")),
                )
            )
        return methods, notifications

    def handler_methods(self) -> list[HandlerMethod]:
        used: dict[str, str] = {}
        handlers = []
        for method in self.api.peer_methods:
            name = member_name(method.name)
            if name in used:
                raise CodegenError(
                    f"peer methods {used[name]!r} and {method.name!r} both map to the "
                    f"TypeScript member name {name!r}; rename one on the server"
                )
            used[name] = method.name
            result = self.types.expr(method.result)
            params = self.params_type(method.params, "  ", filled=True)
            if method.stream:
                returns = f"AsyncIterable<{result}>"
            elif result == "null":
                returns = "void | Promise<void>"
            else:
                returns = f"{result} | Promise<{result}>"
            names = ", ".join(literal(p.name) for p in method.params)
            summary = f"Handle `{method.name}` from the server."
            handlers.append(
                HandlerMethod(
                    doc=self.method_doc(method, summary, "  "),
                    signature=tuple(
                        f"  {name}(params: {params}, context: HandlerContext): {returns};".split(
                            "\n"
                        )
                    ),
                    registration=tuple(
                        (
                            f"  connection.handle({literal(method.name)}, (params, context) => "
                            f"handlers.{name}({_with_defaults(method.params, '  ')}, context), "
                            f"[{names}]" + (", true);" if method.stream else ");")
                        ).split("\n")
                    ),
                )
            )
        return handlers

    # -- the module -------------------------------------------------------------------

    def module(self, schema_hash: str, version: str, options: Sequence[str]) -> Module:
        api = self.api
        enums = [self.enum(d) for d in api.definitions.values() if isinstance(d, EnumDef)]
        objects = [self.object(d) for d in api.definitions.values() if isinstance(d, ObjectDef)]
        errors = [self.error(api.errors[name]) for name in sorted(api.errors)]
        methods, notifications = self.client_methods()
        handlers = self.handler_methods()
        about = f"\n\n{api.description}" if api.description else ""
        title = f"{_one_line(api.title)} (version {_one_line(api.version)})"
        command = " ".join(["wsrpc-gen client SOURCE --lang typescript -o FILE", *options])
        return Module(
            header=(
                f"// Generated by wsrpc-gen {version}. DO NOT EDIT.",
                f"// Schema: sha256:{schema_hash}",
                f"// API: {title}",
                "// Regenerate with (SOURCE: the router, schema file or URL; see docs/codegen.md):",
                f"//   {command}",
            ),
            doc=doc_comment(
                f"Typed client of {title}, generated from its schema.{about}\n\n"
                "One self-contained module: the API's types, its client class and the runtime\n"
                "(JSON-RPC 2.0 over a standard WebSocket); it imports nothing.",
                "",
            ),
            enums=tuple(enums),
            objects=tuple(objects),
            errors=tuple(errors),
            class_name=self.class_name,
            class_doc=doc_comment(f"Typed calls to {title}.{about}", ""),
            methods=tuple(methods),
            notifications=tuple(notifications),
            handlers_name=self.handlers_name,
            handlers_doc=doc_comment(
                f"What the server of {title} calls on its clients: implement it and pass it\n"
                f"to `{self.class_name}.connect(url, options, handlers)` or "
                f"`{REGISTER}(connection, handlers)`.",
                "",
            ),
            handlers=tuple(handlers),
            register=REGISTER,
        )


def _reach(api: Api, nodes: Sequence[TypeNode]) -> set[str]:
    """The keys of the definitions ``nodes`` use, directly or through others."""
    todo = [key for node in nodes for key in refs(node)]
    found: set[str] = set()
    while todo:
        key = todo.pop()
        if key not in found:
            found.add(key)
            definition = api.definitions[key]
            if isinstance(definition, ObjectDef):
                todo += [k for f in definition.fields for k in refs(f.type)]
    return found


def _with_defaults(params: Sequence[ParamDef], indent: str) -> str:
    """``params``, or ``withDefaults(params, {...})`` with the declared defaults, one a line
    (the closing brace at ``indent``)."""
    defaulted = [p for p in params if p.has_default]
    if not defaulted:
        return "params"
    entries = [f"{indent}  {property_key(p.name)}: {literal(p.default)}," for p in defaulted]
    return "\n".join([f"{WITH_DEFAULTS}(params, {{", *entries, f"{indent}}})"])


def _deprecated(doc: list[str], indent: str) -> list[str]:
    if not doc:
        return [f"{indent}/** @deprecated */"]
    if len(doc) == 1:
        text = doc[0].strip()[len("/** ") : -len(" */")]
        return [f"{indent}/**", f"{indent} * {text}", f"{indent} * @deprecated", f"{indent} */"]
    return [*doc[:-1], f"{indent} * @deprecated", doc[-1]]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_module(
    api: Api,
    *,
    class_name: str,
    schema_hash: str,
    version: str,
    handlers: str = "",
    options: Sequence[str] = (),
) -> Module:
    """Decide the whole TypeScript module for ``api``.

    Args:
        handlers: The handlers interface's name (default: from ``class_name``, see
            :func:`handlers_name`); only used when ``api`` has peer methods.
        options: The command-line options that give this module, for its header.

    Raises:
        CodegenError: a name cannot be given without a collision.
    """
    builder = _Builder(api, class_name, handlers or handlers_name(class_name))
    return builder.module(schema_hash, version, options)
