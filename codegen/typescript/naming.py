"""The TypeScript target's naming strategy: identifiers, property keys, doc comments.

Rules of this module:

* A wire name that is a TypeScript identifier (ASCII letters, digits, ``_``, ``$``)
  is kept as it is; others have each other character replaced by ``_``.
* Module-level names (definitions, errors, the client class, the handlers
  interface) never shadow the runtime's exports or the standard globals it uses
  (``Error``, ``Promise``, ``Record``...): a taken name gets a numbered suffix.
* Property keys that are not identifiers are written as JSON strings, so an
  object type keeps every wire name exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "GLOBALS",
    "RESERVED_WORDS",
    "RUNTIME_NAMES",
    "Namespace",
    "doc_comment",
    "identifier",
    "is_identifier",
    "literal",
    "member_name",
    "property_key",
    "type_name",
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words that cannot name a class, an interface, a type or a variable.
RESERVED_WORDS = _words(
    """
    break case catch class const continue debugger default delete do else enum export
    extends false finally for function if import in instanceof new null return super
    switch this throw true try typeof var void while with implements interface let
    package private protected public static yield await any boolean number string
    symbol never unknown object undefined bigint type of as async from get set declare
    """
)
#: What the runtime part of every generated module exports or declares.
RUNTIME_NAMES = _words(
    """
    WebSocketLike WebSocketConstructor AbortSignalLike Backoff ConnectOptions CallOptions
    StreamOptions HandlerContext RpcError ParseError InvalidRequest MethodNotFound
    InvalidParams InternalError ServerBusy DeadlineExceeded Forbidden ShuttingDown
    ResponseTooLarge CallTimeout ConnectionClosed ErrorClass STANDARD_ERRORS Message
    Handle Timers AbortControllerLike WireError host OPEN SUBPROTOCOL aborted errorFrom
    Pending Waiter HandlerFunction RpcConnection StreamSink RpcStream withDefaults
    """
)
#: Standard globals a generated module uses or that users expect unshadowed.
GLOBALS = _words(
    """
    Array ArrayBuffer AsyncIterable AsyncIterator Awaited BigInt Boolean Date Error
    Exclude Extract Function Infinity Iterable Iterator IteratorResult JSON Map Math NaN
    NonNullable Number Object Omit Parameters Partial Pick Promise PromiseLike Proxy
    RangeError Readonly ReadonlyArray Record RegExp Required ReturnType Set String Symbol
    TypeError Uint8Array WeakMap WeakSet AbortController AbortSignal DOMException Event
    WebSocket console globalThis setTimeout clearTimeout
    """
)
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def is_identifier(name: str) -> bool:
    """Whether ``name`` is an ASCII TypeScript identifier."""
    return _IDENTIFIER.fullmatch(name) is not None


def identifier(name: str, *, reserved: Iterable[str] = ()) -> str:
    """``name`` as an identifier: other characters become ``_``, a leading digit gets a
    leading ``_``, a reserved word or name gets a trailing ``_``."""
    text = re.sub(r"[^A-Za-z0-9_$]", "_", name)
    if not text or text[0].isdigit():
        text = "_" + text
    taken = set(reserved)
    while text in RESERVED_WORDS or text in taken:
        text += "_"
    return text


def member_name(name: str, *, reserved: Iterable[str] = ()) -> str:
    """A class or interface member's name for the wire name ``name``: as :func:`identifier`,
    but a reserved word is a fine member name (``client.delete(...)``)."""
    text = re.sub(r"[^A-Za-z0-9_$]", "_", name)
    if not text or text[0].isdigit():
        text = "_" + text
    taken = set(reserved)
    while text in taken:
        text += "_"
    return text


def type_name(key: str) -> str:
    """A definition's type name from its ``$defs`` key: ``Span-Input`` -> ``SpanInput``."""
    parts = re.split(r"[^0-9A-Za-z_$]+", key)
    name = "".join(p[:1].upper() + p[1:] for p in parts if p) or "Model"
    if name[0].isdigit():
        name = "_" + name
    return name


def property_key(name: str) -> str:
    """An object type's key for the wire name ``name``."""
    return name if is_identifier(name) else literal(name)


def literal(value: Any) -> str:
    """A JSON value as a TypeScript literal (the same text)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class Namespace:
    """Module-level names handed out so far (runtime names and globals are taken)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = {*RUNTIME_NAMES, *GLOBALS, *taken}

    def claim(self, wanted: str) -> str:
        """``wanted`` as an identifier, with a numbered suffix if it is taken; now taken."""
        name = identifier(wanted)
        candidate, n = name, 1
        while candidate in self._taken or candidate in RESERVED_WORDS:
            n += 1
            candidate = f"{name}{n}"
        self._taken.add(candidate)
        return candidate

    def __contains__(self, name: object) -> bool:
        return name in self._taken


def doc_comment(text: str | None, indent: str) -> tuple[str, ...]:
    """``text`` as the lines of a ``/** ... */`` comment at ``indent`` (none for no text)."""
    if not text or not text.strip():
        return ()
    # Python docstrings quote code as ``x``; TSDoc as `x`.
    body = re.sub(r"``([^`]+)``", r"`\1`", text.strip()).replace("*/", "*\\/")
    lines = body.split("\n")
    if len(lines) == 1:
        return (f"{indent}/** {lines[0]} */",)
    return (
        f"{indent}/**",
        *(f"{indent} * {line}".rstrip() for line in lines),
        f"{indent} */",
    )
