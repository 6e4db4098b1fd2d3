"""Stage 2's output: the immutable intermediate representation of a client module.

Every name, type expression, import, default and line break of the generated
module is decided when the IR is built (:mod:`codegen.build`); the templates
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
    "ModelClass",
    "ModelField",
    "Module",
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


@dataclass(frozen=True, slots=True)
class ModelField:
    """One field line of a model: ``name: annotation`` plus ``= default`` (``lines``)."""

    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelClass:
    """A pydantic model reproduced from an object definition."""

    name: str
    docstring: str | None
    config: tuple[str, ...]
    fields: tuple[ModelField, ...]


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
