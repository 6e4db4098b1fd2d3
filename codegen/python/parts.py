"""Stage 2's output: the immutable intermediate representation of a generated module.

The IR holds what :mod:`wsrpc_gen.python.build` decided: every name, type expression,
import, default and docstring text, as Python source fragments (never schema). The code
shape (``class``, ``def``, the call each method body makes, where docstrings go and their
fixed prose) is the templates'; they lay long lines out with the ``layout`` filter and
quote docstrings with the ``docstring`` filter (:mod:`wsrpc_gen.python.render`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .source import Part

__all__ = [
    "ClientClass",
    "ClientMethod",
    "EnumClass",
    "EnumMember",
    "ErrorClass",
    "HandlerMethod",
    "HandlersProtocol",
    "ModelClass",
    "ModelField",
    "Module",
    "Registration",
    "Wrapper",
]


@dataclass(frozen=True, slots=True)
class EnumMember:
    """``name = value`` in an enum class."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class EnumClass:
    """An ``enum.Enum`` reproduced from an ``enum`` definition."""

    name: str
    #: The docstring's text.
    doc: str | None
    members: tuple[EnumMember, ...]
    #: The base class: ``enum.Enum``, or ``enum.StrEnum``/``enum.IntEnum`` for a
    #: ``str``/``int`` enum (the schema's ``x-enum-mixin``).
    base: str = "enum.Enum"


@dataclass(frozen=True, slots=True)
class ModelField:
    """One field of a class: ``name: annotation`` plus its default, as laid-out lines."""

    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelClass:
    """A class reproduced from an object definition.

    Attributes:
        kind: ``model`` (a pydantic model), ``dataclass`` (pydantic's) or ``typeddict``.
        config: The ``ConfigDict`` arguments, if any.
        kw_only: A dataclass whose fields must be passed by keyword (a required field
            follows one with a default).
    """

    name: str
    doc: str | None
    fields: tuple[ModelField, ...]
    kind: str = "model"
    config: tuple[str, ...] = ()
    kw_only: bool = False


@dataclass(frozen=True, slots=True)
class ErrorClass:
    """An :class:`~wsrpc_typed.RpcError` subclass for a declared application error."""

    name: str
    doc: str
    code: str
    message: str
    data_model: str | None


@dataclass(frozen=True, slots=True)
class Signature:
    """What a method's ``def`` and docstring need, shared by every kind of method.

    Attributes:
        name: The method's Python name.
        wire: Its wire name.
        params: ``name: type = default`` of each param (keyword-only).
        receiver: The name of ``self``.
        result: The result (item) type.
        stream: Whether it streams (a plain ``def`` returning ``AsyncIterator[result]``).
        description: The docstring's text, if the method has one.
        summary: The docstring's first line when it has none (and declares errors).
        raises: ``Name: message`` of each declared error.
    """

    name: str
    wire: str
    params: tuple[Part, ...]
    receiver: str
    result: str
    stream: bool
    description: str | None
    summary: str
    raises: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClientMethod(Signature):
    """One method of the client class (or peer stub) and the ``RemoteMethod`` constant it
    delegates to.

    Attributes:
        constant: The constant's name.
        param_types: ``"wire": type`` of each param.
        call_args: ``"wire": name`` of each param.
        errors: The declared errors' class names.
        defaults: ``"wire": JSON`` of each param declared ``= DEFAULT``.
        deprecated: Whether it carries ``@deprecated``.
        twin: In a peer stub, the name of the ``notify_`` twin of a method without a result.
    """

    constant: str = ""
    param_types: tuple[str, ...] = ()
    call_args: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()
    deprecated: bool = False
    twin: str | None = None


@dataclass(frozen=True, slots=True)
class ClientClass:
    """The client class (or peer stub): a constructor taking a connection, then one
    method per method."""

    name: str
    methods: tuple[ClientMethod, ...]
    #: ``client`` (calls to the server) or ``peer`` (calls from the server to a client).
    mode: str = "client"


@dataclass(frozen=True, slots=True)
class HandlerMethod(Signature):
    """One method of the handlers Protocol (its docstring is its whole body)."""


@dataclass(frozen=True, slots=True)
class HandlersProtocol:
    """The ``typing.Protocol`` of the peer methods a client implements."""

    name: str
    methods: tuple[HandlerMethod, ...]


@dataclass(frozen=True, slots=True)
class Wrapper:
    """One handler ``register_handlers`` registers: typed as the schema says, it calls the
    implementation by keyword.

    Attributes:
        name: The nested function's name.
        wire: The method's wire name (what it is registered under).
        params: Its params, by wire name, with their types and defaults.
        call: What it calls (``handlers.name``).
        keywords: ``name=wire`` of each param.
        result: The result (item) type.
        stream: Whether it streams (re-yields each item as ``item``).
        item: The loop variable's name (not a param's).
    """

    name: str
    wire: str
    params: tuple[Part, ...]
    call: str
    keywords: tuple[str, ...]
    result: str
    stream: bool
    item: str


@dataclass(frozen=True, slots=True)
class Registration:
    """The function that registers an implementation of the Protocol in a client router.

    Attributes:
        function: Its name.
        protocol: The Protocol's name.
        receiver: The name of the implementation argument.
        wrappers: The handlers it registers.
    """

    function: str
    protocol: str
    receiver: str
    wrappers: tuple[Wrapper, ...]


@dataclass(frozen=True, slots=True)
class Module:
    """A whole generated module, in the order it is written.

    Attributes:
        title, version, description: The API's (the header and docstrings).
        regenerate: The header's lines with the command that writes the module again.
    """

    generator: str
    schema_hash: str
    title: str
    version: str
    description: str | None
    regenerate: tuple[str, ...]
    imports: tuple[str, ...]
    runtime_import: tuple[str, ...]
    all_names: tuple[str, ...]
    enums: tuple[EnumClass, ...]
    models: tuple[ModelClass, ...]
    errors: tuple[ErrorClass, ...]
    client: ClientClass
    handlers: HandlersProtocol | None = None
    registration: Registration | None = None
