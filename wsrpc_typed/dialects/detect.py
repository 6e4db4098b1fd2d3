"""Choosing a dialect: by subprotocol, or from the first frame when none was offered.

Rules of this module:

* A client that offers a subprotocol gets that dialect
  (:func:`dialect_for_subprotocol`); :data:`SUBPROTOCOLS` lists them all.
* The original seed clients offer no subprotocol (seed-protocol.md §0), so the
  server then detects the dialect from the first frame the client sends
  (§4, last paragraph), and keeps it for the life of the connection:

  - bytes starting with a msgpack map marker (fixmap 0x80-0x8f, map16 0xde,
    map32 0xdf) are v2 msgpack. Detection is by content, because the transport
    hands over text and binary frames alike as bytes, and no JSON text starts
    with one of these bytes;
  - a JSON object with a ``payload`` object is legacy;
  - a JSON object with an ``instruction`` object is v2 JSON;
  - an object with a ``jsonrpc`` member, or an array holding one (a batch),
    is JSON-RPC;
  - anything else (garbage, a JSON scalar, an object of none of these shapes)
    is answered as JSON-RPC answers it (an error reply), and does not settle
    the dialect: the next frame is examined again.

* Dialects are stateless and shared; only :class:`AutoDialect` is per
  connection, and creating one costs three attribute writes.
"""

from __future__ import annotations

from typing import Any

import orjson

from .events import Dialect, ErrorResponse, Event, Outgoing, Response
from .jsonrpc import SUBPROTOCOL as JSONRPC_SUBPROTOCOL
from .jsonrpc import JsonRpcDialect
from .legacy import SUBPROTOCOL as LEGACY_SUBPROTOCOL
from .legacy import LegacyDialect
from .v2 import SUBPROTOCOL as V2_SUBPROTOCOL
from .v2 import SUBPROTOCOL_JSON as V2_JSON_SUBPROTOCOL
from .v2 import V2JsonDialect, V2MsgpackDialect

__all__ = ["SUBPROTOCOLS", "AutoDialect", "detect_dialect", "dialect_for_subprotocol"]

_JSONRPC = JsonRpcDialect()
_LEGACY = LegacyDialect()
_V2_MSGPACK = V2MsgpackDialect()
_V2_JSON = V2JsonDialect()

SUBPROTOCOLS: tuple[str, ...] = (
    JSONRPC_SUBPROTOCOL,
    V2_SUBPROTOCOL,
    V2_JSON_SUBPROTOCOL,
    LEGACY_SUBPROTOCOL,
)
"""Every supported subprotocol, in the server's order of preference."""

_BY_NAME: dict[str, Dialect] = {
    dialect.name: dialect for dialect in (_JSONRPC, _V2_MSGPACK, _V2_JSON, _LEGACY)
}

# The first byte of a msgpack map: fixmap 0x80-0x8f, map16 0xde, map32 0xdf.
_MSGPACK_MAP_MARKERS = frozenset((*range(0x80, 0x90), 0xDE, 0xDF))


def detect_dialect(frame: bytes | str) -> Dialect:
    """Return the shared dialect that a first frame is written in (see the module rules).

    Args:
        frame: The first message a client sent, as bytes (text or binary) or str.

    Returns:
        The legacy, v2 msgpack, v2 JSON or (by default) JSON-RPC dialect.
    """
    return _detect(frame)[0]


def _detect(frame: bytes | str) -> tuple[Dialect, bool]:
    """The dialect of a frame, and whether the frame identifies it for sure."""
    if frame and not isinstance(frame, str) and frame[0] in _MSGPACK_MAP_MARKERS:
        return _V2_MSGPACK, True
    try:
        obj: Any = orjson.loads(frame)
    except Exception:  # not JSON: JSON-RPC answers with a parse error
        return _JSONRPC, False
    if type(obj) is list:  # a batch, if it holds a JSON-RPC message
        return _JSONRPC, any(type(item) is dict and "jsonrpc" in item for item in obj)
    if type(obj) is dict:
        if "jsonrpc" in obj:
            return _JSONRPC, True
        if type(obj.get("payload")) is dict:
            return _LEGACY, True
        if type(obj.get("instruction")) is dict:
            return _V2_JSON, True
    return _JSONRPC, False


class AutoDialect:
    """A per-connection dialect that becomes the dialect of the first frame it decodes.

    Until then it encodes (and reports its :attr:`name` and :attr:`text`) as
    JSON-RPC, so a server that calls before the client has spoken uses JSON-RPC.

    Attributes:
        name: The detected dialect's name; JSON-RPC's before detection.
        text: Whether the detected dialect sends text frames; JSON-RPC's before detection.
        extensions: Whether the detected dialect has deadlines, cancellation and streams.
        acks: Whether the detected dialect acknowledges replies.
        detected: The detected dialect, or None before the first frame.
    """

    __slots__ = ("acks", "detected", "extensions", "name", "text")

    def __init__(self) -> None:
        self.detected: Dialect | None = None
        self.name: str = _JSONRPC.name
        self.text: bool = _JSONRPC.text
        self.extensions: bool = _JSONRPC.extensions
        self.acks: bool = _JSONRPC.acks

    def decode(self, frame: bytes | str) -> Event:
        """Decode one frame, detecting the dialect on the first one. Never raises."""
        dialect = self.detected
        if dialect is None:
            dialect, certain = _detect(frame)
            if not certain:
                # Garbage says nothing about the peer: answer it as JSON-RPC does
                # and keep detecting on the next frame.
                return dialect.decode(frame)
            self.detected = dialect
            self.name = dialect.name
            self.text = dialect.text
            self.extensions = dialect.extensions
            self.acks = dialect.acks
        return dialect.decode(frame)

    def encode(self, event: Outgoing) -> bytes:
        """Encode with the detected dialect (JSON-RPC before detection)."""
        return (self.detected or _JSONRPC).encode(event)

    def encode_batch(self, events: list[Response | ErrorResponse]) -> bytes:
        """Encode a batch reply with the detected dialect (only JSON-RPC has batches)."""
        return (self.detected or _JSONRPC).encode_batch(events)


def dialect_for_subprotocol(name: str | None) -> Dialect:
    """Return the dialect for a negotiated subprotocol.

    Args:
        name: A name from :data:`SUBPROTOCOLS`, or None when no subprotocol was
            negotiated.

    Returns:
        The shared dialect of that name, or a new :class:`AutoDialect` for None.

    Raises:
        ValueError: If ``name`` is not a supported subprotocol.
    """
    if name is None:
        return AutoDialect()
    try:
        return _BY_NAME[name]
    except KeyError:
        supported = ", ".join(SUBPROTOCOLS)
        raise ValueError(
            f"unknown dialect {name!r}: use one of {supported}, or None to detect it"
        ) from None
