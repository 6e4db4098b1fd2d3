"""Stage 2: build the client module's IR (:mod:`wsrpc_gen.python.parts`) from the API model.

Rules of this module:

* Every decision is made here: class, method, param and constant names, type
  expressions, imports, defaults and docstring texts. The templates (stage 3)
  hold the code shape around them: ``class`` and ``def`` lines, method bodies,
  where docstrings go and the generated ones' fixed prose.
* Names never collide silently. Definitions, errors and the client class share
  one namespace with the module's imports; a definition whose name is taken
  gets a numbered suffix (its schema ``title`` is kept, so its JSON Schema is
  unchanged). Two methods or two params that map to the same Python name are
  rejected with a message naming both.
* Output depends on the spec only: everything is visited in sorted order.
* One builder, two kinds of module: the client (the server's methods, plus the
  handlers Protocol and registration helper of the peer methods when the
  document declares any, see :mod:`wsrpc_gen.python.handlers`) and the peer stub (the
  peer methods, called through a server-side ``Connection`` or ``server.peer(id)``).
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from wsrpc_typed.schema import SchemaError

from ..model import Api, EnumDef, ErrorDef, MethodDef
from .definitions import CodegenError, DefinitionsBuilder, Namespace, scalar
from .definitions import class_name as definition_class_name
from .handlers import handlers_protocol, registration
from .parts import (
    ClientClass,
    ClientMethod,
    ErrorClass,
    Module,
)
from .source import (
    LINE_LENGTH,
    Group,
    Part,
    call_part,
    identifier,
    layout,
    py_literal,
)
from .types import TypeMapper

__all__ = ["CodegenError", "MethodParts", "Mode", "build_module", "handlers_class_name"]

_RUNTIME = (
    "BaseModel",
    "Caller",
    "Client",
    "ConfigDict",
    "DEFAULT",
    "Default",
    "Field",
    "NotRequired",
    "RemoteMethod",
    "RemoteStream",
    "Router",
    "RpcError",
    "TypedDict",
    "dataclass",
    "with_config",
)
_TYPING = ("Annotated", "Any", "Final", "Literal", "Protocol")
#: The registration helper's name in a client module with peer methods.
REGISTER = "register_handlers"
#: ``client``: the server's methods (+ handlers of the peer methods); ``peer``: the peer methods.
Mode = Literal["client", "peer"]
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


def handlers_class_name(class_name: str) -> str:
    """The handlers Protocol's default name: ``ChatClient`` -> ``ChatHandlers``."""
    base = class_name.removesuffix("Client") or class_name
    return f"{base}Handlers"


@dataclass(frozen=True, slots=True)
class MethodParts:
    """A method's signature pieces, shared by client methods, Protocol methods and wrappers.

    Attributes:
        spec: The method.
        name: Its Python name.
        params: ``name: type = default`` of each param, by Python name (a default that is a
            call, such as ``datetime.date(2024, 1, 2)``, is a group that can break).
        wire_params: The same by wire name (``None``: a wire name is not a Python name).
        param_types: ``"wire": type`` of each param.
        call_args: ``"wire": name`` of each param.
        keywords: ``name=wire`` of each param (calling by Python name from wire names).
        receiver: The name of ``self`` (``self_`` when a param is called ``self``).
        result: The result (item) type.
        description: The method's docstring text, if any.
        summary: The docstring's first line when it has no description.
        raises: ``Name: message`` of each declared error (the docstring's ``Raises:``).
        defaults: ``"wire": default`` (JSON) of each param declared ``= DEFAULT``.
    """

    spec: MethodDef
    name: str
    params: tuple[Part, ...]
    wire_params: tuple[Part, ...] | None
    param_types: tuple[str, ...]
    call_args: tuple[str, ...]
    keywords: tuple[str, ...]
    receiver: str
    result: str
    description: str | None
    summary: str
    raises: tuple[str, ...]
    defaults: tuple[str, ...] = ()


class _Builder(DefinitionsBuilder):
    options: tuple[tuple[str, str], ...] = ()

    def __init__(
        self, api: Api, class_name: str, mode: Mode = "client", handlers_name: str = ""
    ) -> None:
        self.api = api
        self.mode = mode
        self.methods = api.methods if mode == "client" else api.peer_methods
        # The peer methods the client implements (handlers Protocol, registration helper).
        self.peers = api.peer_methods if mode == "client" else ()
        self.handlers_name = handlers_name or handlers_class_name(class_name)
        api_names = {"--class-name": class_name}
        if self.peers:
            api_names["--handlers-name"] = self.handlers_name
        for option, name in api_names.items():
            if not name.isidentifier() or keyword.iskeyword(name):
                raise CodegenError(f"{option} {name!r} is not a Python identifier")
            if name in _TAKEN or name == REGISTER:
                raise CodegenError(
                    f"{option} {name!r} would shadow a name the module imports or defines; "
                    "pick another"
                )
        if self.peers and self.handlers_name == class_name:
            raise CodegenError(f"--handlers-name and --class-name are both {class_name!r}")
        self.class_name = class_name
        reserved = {*_TAKEN, class_name}
        if self.peers:
            reserved |= {self.handlers_name, REGISTER}
        self.namespace = Namespace(reserved)
        used = (
            set(api.definitions) if mode == "client" else api.reachable(self.methods)
        )  # a peer stub carries only the definitions its methods use
        self.names: dict[str, str] = {
            key: self.namespace.claim(definition_class_name(key))
            for key in api.definitions
            if key in used
        }
        self.types = TypeMapper(self.names)
        self.errors = {
            e.name: e for m in (*self.methods, *self.peers) for e in m.errors
        }  # unique by name (the schema names errors by class)
        self.error_names = {name: self.namespace.claim(name) for name in sorted(self.errors)}

    # -- errors -------------------------------------------------------------------

    def error_class(self, error: ErrorDef) -> ErrorClass:
        data_model = None if error.data is None else self.names[error.data]
        self.types.imports.add("stubs.RpcError")
        return ErrorClass(
            name=self.error_names[error.name],
            doc=error.description or f"{error.message} (code {error.code}).",
            code=py_literal(error.code),
            message=py_literal(error.message),
            data_model=data_model,
        )

    # -- methods ------------------------------------------------------------------

    def parts(
        self, method: MethodDef, used: dict[str, str], summary: str, *, calling: bool = True
    ) -> MethodParts:
        """Names, types and defaults of ``method``'s signature (``used``: Python method names;
        ``summary``: the docstring's first line when the method has no description;
        ``calling``: a method this module calls, not one it handles)."""
        name = identifier(method.name, reserved=frozenset({"_connection"}))
        if name.startswith("__"):
            name = name.lstrip("_") or "call"
        if name in used:
            raise CodegenError(
                f"methods {used[name]!r} and {method.name!r} both map to the Python method "
                f"name {name!r}; rename one on the server"
            )
        used[name] = method.name
        params: list[Part] = []
        wire_params: list[Part] | None = []
        param_types: list[str] = []
        call_args: list[str] = []
        keywords: list[str] = []
        defaults: list[str] = []
        taken: dict[str, str] = {}
        # A wrapper param filled by a factory has no Python default: keyword-only params
        # may follow params with one.
        keyword_only = False
        wire_part: Part | None = None
        for param in method.params:
            attr = identifier(param.name)
            if attr in taken:
                raise CodegenError(
                    f"method {method.name!r}: params {taken[attr]!r} and {param.name!r} both map "
                    f"to the Python name {attr!r}"
                )
            taken[attr] = param.name
            annotation = self.types.expr(param.type)
            if param.has_default and not param.required:
                default = param.default
                text = self.signature_value(default, param.type) if scalar(default) else None
                if text is not None:
                    tail = f": {annotation} = {text}"
                elif not calling:
                    # A handler the client implements: the registered wrapper fills the
                    # param from a factory of the declared JSON (a new value each call,
                    # validated into its type), and always passes it on.
                    base, kwargs = self.types.split(param.type)
                    self.types.imports.update({"typing.Annotated", "stubs.Field"})
                    factory = [f"default_factory=lambda: {py_literal(default)}"]
                    tail = f": {annotation}"
                    field = Group("Field", "(", (*kwargs, *factory, "validate_default=True"), ")")
                    wire_part = Group(f"{param.name}: Annotated", "[", (base, field), "]")
                    keyword_only = True
                else:
                    # A list, object, model or UUID: the helper sends the declared JSON.
                    self.types.imports.update({"stubs.DEFAULT", "stubs.Default"})
                    tail = f": {annotation} | Default = DEFAULT"
                    defaults.append(f"{py_literal(param.name)}: {py_literal(default)}")
            elif not param.required:
                raise CodegenError(
                    f"method {method.name!r}, param {param.name!r}: optional without a default"
                )
            else:
                tail = f": {annotation}"
            params.append(call_part(attr + tail))
            if wire_params is not None and param.name.isidentifier():
                if keyword.iskeyword(param.name):
                    wire_params = None
                else:
                    wire_params.append(wire_part or call_part(param.name + tail))
            else:
                wire_params = None
            wire_part = None
            param_types.append(f"{py_literal(param.name)}: {annotation}")
            call_args.append(f"{py_literal(param.name)}: {attr}")
            keywords.append(f"{attr}={param.name}")
        if keyword_only and wire_params is not None:
            wire_params = ["*", *wire_params]
        receiver = "self"
        while receiver in taken:
            receiver += "_"
        return MethodParts(
            spec=method,
            name=name,
            params=tuple(params),
            wire_params=None if wire_params is None else tuple(wire_params),
            param_types=tuple(param_types),
            call_args=tuple(call_args),
            keywords=tuple(keywords),
            receiver=receiver,
            result=self.types.expr(method.result),
            description=method.description,
            summary=summary,
            raises=tuple(f"{self.error_names[e.name]}: {e.message}" for e in method.errors),
            defaults=tuple(defaults),
        )

    def client_method(self, parts: MethodParts) -> ClientMethod:
        """The client (or peer stub) method for ``parts``; in a peer stub, a method with
        no result also gets a ``notify_`` twin that sends it as a notification."""
        method = parts.spec
        constant = self.namespace.claim("_" + re.sub(r"\W", "_", method.name).upper())
        helper = "RemoteStream" if method.stream else "RemoteMethod"
        self.types.imports.update({f"stubs.{helper}", "typing.Final"})
        if method.stream:
            self.types.imports.add("collections.abc.AsyncIterator")
        if method.deprecated:
            self.types.imports.add("stubs.deprecated")
        twin = None
        if self.mode == "peer" and not method.stream and parts.result == "None":
            twin = f"notify_{parts.name}"
            if twin in self.used:
                raise CodegenError(
                    f"method {method.name!r} is sent as a notification by {twin!r}, the Python "
                    f"name of method {self.used[twin]!r}; rename one"
                )
            self.used[twin] = method.name
        return ClientMethod(
            name=parts.name,
            wire=method.name,
            params=parts.params,
            receiver=parts.receiver,
            result=parts.result,
            stream=method.stream,
            description=parts.description,
            summary=parts.summary,
            raises=parts.raises,
            constant=constant,
            param_types=parts.param_types,
            call_args=parts.call_args,
            errors=tuple(self.error_names[e.name] for e in method.errors),
            defaults=parts.defaults,
            deprecated=method.deprecated,
            twin=twin,
        )

    # -- the module ---------------------------------------------------------------

    def module(self, schema_hash: str, version: str) -> Module:
        enums, models = [], []
        for key, definition in self.api.definitions.items():
            if key not in self.names:
                continue
            if isinstance(definition, EnumDef):
                enums.append(self.enum_class(definition))
            else:
                models.append(self.model_class(definition))
        self.used: dict[str, str] = {}
        where = "the server" if self.mode == "client" else "a client"
        all_parts = [
            self.parts(m, self.used, f"Call ``{m.name}`` on {where}.") for m in self.methods
        ]
        # Every Python name is decided before any twin name is checked against them.
        methods = [self.client_method(parts) for parts in all_parts]
        peer_parts = [
            self.parts(m, {}, f"Handle ``{m.name}`` from the server.", calling=False)
            for m in self.peers
        ]
        errors = [self.error_class(self.errors[name]) for name in sorted(self.errors)]
        spec = self.api
        self.types.imports.add("stubs.Client" if self.mode == "client" else "stubs.Caller")
        handlers = register = None
        if peer_parts:
            self.types.imports.update({"typing.Protocol", "stubs.Router"})
            if any(p.spec.stream for p in peer_parts):
                self.types.imports.add("collections.abc.AsyncIterator")
            handlers = handlers_protocol(self.handlers_name, peer_parts)
            register = registration(REGISTER, self.handlers_name, peer_parts)
        imports = self.types.imports
        stdlib = [f"import {m}" for m in _STDLIB_MODULES if m in imports]
        if "collections.abc.AsyncIterator" in imports:
            stdlib.append("from collections.abc import AsyncIterator")
        typing_names = [n for n in _TYPING if f"typing.{n}" in imports]
        if typing_names:
            stdlib.append(f"from typing import {', '.join(typing_names)}")
        runtime = sorted(
            (n.split(".", 1)[1] for n in imports if n.startswith("stubs.")), key=_isort_key
        )
        runtime_import = layout(
            Group("from wsrpc_typed.stubs import ", "(", tuple(runtime), ")"), "", explode=True
        )
        if len(runtime_import) == 1:
            runtime_import = [f"from wsrpc_typed.stubs import {', '.join(runtime)}"]
        all_names = sorted(
            [self.class_name, *(e.name for e in enums), *(m.name for m in models)]
            + [e.name for e in errors]
            + ([self.handlers_name, REGISTER] if peer_parts else [])
        )
        return Module(
            generator=version,
            schema_hash=schema_hash,
            title=spec.title,
            version=spec.version,
            description=spec.description,
            regenerate=tuple(_regenerate(self.mode, self.options)),
            imports=tuple(stdlib),
            runtime_import=tuple(runtime_import),
            all_names=tuple(all_names),
            enums=tuple(enums),
            models=tuple(models),
            errors=tuple(errors),
            client=ClientClass(self.class_name, tuple(methods), self.mode),
            handlers=handlers,
            registration=register,
        )


def _isort_key(name: str) -> tuple[int, str]:
    # The import sorter's order by type: CONSTANTS, then Classes, then functions.
    if name.isupper():
        return (0, name)
    return (1 if name[:1].isupper() else 2, name)


def _regenerate(command: str, options: Sequence[tuple[str, str]]) -> list[str]:
    # The command that writes this module again; SOURCE and FILE stay placeholders, so the
    # module is the same bytes whichever source (module, file or URL) it came from.
    head = f"#   wsrpc-gen {command} SOURCE -o FILE"
    flags = [f"{flag} {value}" for flag, value in options]
    lines = ["# Regenerate with (SOURCE: the router, schema file or URL; see docs/codegen.md):"]
    line = " ".join([head, *flags])
    if len(line) <= LINE_LENGTH:
        return [*lines, line]
    return [*lines, f"{head} \\", *(f"#       {f} \\" for f in flags[:-1]), f"#       {flags[-1]}"]


def build_module(
    api: Api,
    *,
    class_name: str,
    schema_hash: str,
    version: str,
    mode: Mode = "client",
    handlers_name: str = "",
    options: Sequence[tuple[str, str]] = (),
) -> Module:
    """Decide the whole client module (or, with ``mode="peer"``, peer stub) for ``api``.

    Args:
        handlers_name: The handlers Protocol's name (default: from ``class_name``,
            see :func:`handlers_class_name`); only used when ``api`` has peer methods.
        options: The command-line options that give this module (``--class-name``...),
            written in the header's command.

    Raises:
        CodegenError: a name cannot be given without a collision, or the schema
            uses a construct the generator cannot reproduce.
    """
    try:
        builder = _Builder(api, class_name, mode, handlers_name)
        builder.options = tuple(options)
        return builder.module(schema_hash, version)
    except CodegenError:
        raise
    except SchemaError as exc:
        raise CodegenError(str(exc)) from exc
