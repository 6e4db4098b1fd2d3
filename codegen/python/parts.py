"""Stage 2's output: the immutable intermediate representation of a generated module.

Every name, type expression, import, default and line break of the generated
module is decided when the IR is built (:mod:`wsrpc_gen.python.build`); the templates
only place these strings. The IR holds source text, never schema.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    docstring: str | None
    members: tuple[EnumMember, ...]
    #: The base class: ``enum.Enum``, or ``enum.StrEnum``/``enum.IntEnum`` for a
    #: ``str``/``int`` enum (the schema's ``x-enum-mixin``).
    base: str = "enum.Enum"


@dataclass(frozen=True, slots=True)
class ModelField:
    """One field line of a model: ``name: annotation`` plus ``= default`` (``lines``)."""

    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelClass:
    """A class reproduced from an object definition: a pydantic model, a dataclass
    (``decorators``, no ``base``) or a ``TypedDict``."""

    name: str
    docstring: str | None
    config: tuple[str, ...]
    fields: tuple[ModelField, ...]
    #: Lines before ``class`` (``@dataclass(...)``, ``@with_config(...)``).
    decorators: tuple[str, ...] = ()
    #: The base class, if any.
    base: str = "BaseModel"


@dataclass(frozen=True, slots=True)
class ErrorClass:
    """An :class:`~wsrpc_typed.RpcError` subclass for a declared application error."""

    name: str
    docstring: str | None
    code: str
    message: str
    data_model: str | None


@dataclass(frozen=True, slots=True)
class ClientMethod:
    """One ``async def`` of the client class and the ``RemoteMethod`` it delegates to."""

    name: str
    constant: tuple[str, ...]
    decorators: tuple[str, ...]
    signature: tuple[str, ...]
    docstring: str | None
    body: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClientClass:
    """The client class: a constructor taking a connection, then one method per method."""

    name: str
    docstring: str
    receiver: str
    methods: tuple[ClientMethod, ...]
    connection_type: str = "Client"


@dataclass(frozen=True, slots=True)
class HandlerMethod:
    """One method of the handlers Protocol: its signature and docstring (its whole body)."""

    signature: tuple[str, ...]
    docstring: str


@dataclass(frozen=True, slots=True)
class HandlersProtocol:
    """The ``typing.Protocol`` of the peer methods a client implements."""

    name: str
    docstring: str
    methods: tuple[HandlerMethod, ...]


@dataclass(frozen=True, slots=True)
class Registration:
    """The function that registers an implementation of the Protocol in a client router.

    Attributes:
        signature: Its ``def`` line(s).
        docstring: Its docstring.
        wrappers: Lines of each nested handler (typed as the schema says) it registers.
        adds: The ``router.add(...)`` lines.
    """

    signature: tuple[str, ...]
    docstring: str
    wrappers: tuple[tuple[str, ...], ...]
    adds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Module:
    """A whole generated module, in the order it is written."""

    header: tuple[str, ...]
    docstring: str
    imports: tuple[str, ...]
    runtime_import: tuple[str, ...]
    all_names: tuple[str, ...]
    enums: tuple[EnumClass, ...]
    models: tuple[ModelClass, ...]
    errors: tuple[ErrorClass, ...]
    client: ClientClass
    handlers: HandlersProtocol | None = None
    registration: Registration | None = None
