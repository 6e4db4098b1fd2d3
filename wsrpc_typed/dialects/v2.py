"""The ws-promise v2 dialect: SYN, ACK and SYN_ACK, in msgpack or JSON.

Rules of this module (seed-protocol.md §2; the checklist is §4, "v2"):

* A frame is ``{"id": <id>, "instruction": {"args": [...], "command": <str>,
  "type": 0 | 1 | 2}}``, written in that key order; receivers ignore key
  order (§2.1).
* ``type`` 0 (SYN) is a call; 1 (ACK) is the reply, repeating ``id`` and
  ``command``; 2 (SYN_ACK) confirms that the reply arrived (§2.1, §2.4).
* ``id`` is kept verbatim, whatever its type. A frame without ``id`` gets a
  fresh UUID v4 string, as the original does; the peer cannot match it (§2.3).
* There are no notifications: a notification goes out as a SYN with a fresh
  id, and its reply is dropped as a reply to an unknown call (§2.3).
* An error reply is an ACK whose single value is ``{"error": true, "message",
  "stack", "code", "data"?}``. The original client raises ``RemoteError`` only
  when ``error``, ``message`` and ``stack`` are all truthy (§2.6, §4 v2 item 3),
  so ``stack`` is a one-line summary, never a traceback or a path. Decoding
  accepts any record with a truthy ``error`` and ``message``.
* Frames that are not such a message decode to :class:`Malformed`, with an
  error reply only for a frame that is not itself a reply (type 1 or 2) and
  whose ``id`` and ``command`` can be read. We never answer a reply.

msgpack specifics (§2.2, §4 v2 item 5): ``str`` decodes as text and ``bin`` as
bytes; map keys of any type are accepted. msgpack-lite sends integers outside
the int32 range as float64; they stay floats here, and validation accepts
integral floats. msgpack-lite's Date extension (type 0x0D, whose payload is
the msgpack-encoded number of milliseconds since the epoch) decodes to an
aware UTC :class:`~datetime.datetime`; every other extension type (typed
arrays, nested Errors, ...) decodes to the ``bytes`` of its payload, as does a
Date outside Python's range. Both libraries limit nesting to 1024 levels.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import msgpack
import orjson
from pydantic_core import to_jsonable_python

from ..errors import InvalidRequest, error_class_for_code
from . import jsontext
from .events import (
    Acknowledge,
    ErrorResponse,
    Event,
    Malformed,
    Notification,
    Outgoing,
    Request,
    Response,
)

__all__ = [
    "ACK",
    "EXT_DATE",
    "SUBPROTOCOL",
    "SUBPROTOCOL_JSON",
    "SYN",
    "SYN_ACK",
    "V2Dialect",
    "V2JsonDialect",
    "V2MsgpackDialect",
]

SUBPROTOCOL = "ws-promise-v2"
SUBPROTOCOL_JSON = "ws-promise-v2-json"

SYN = 0
ACK = 1
SYN_ACK = 2

EXT_DATE = 0x0D
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SERVER_ERROR = -32000


def _new_id() -> str:
    # uuid@8 v4(): lower-case, hyphenated, 36 characters (§2.3).
    return str(uuid4())


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_DATE:
        # Decoded without our hook, so nested extensions cannot recurse.
        try:
            ms = msgpack.unpackb(data)
            if type(ms) is int or type(ms) is float:
                return _EPOCH + timedelta(milliseconds=ms)
        except Exception:  # bad payload, NaN (an invalid Date), out of range
            pass
    return data


def _unpack(frame: Any) -> Any:
    return msgpack.unpackb(frame, raw=False, strict_map_key=False, ext_hook=_ext_hook, timestamp=3)


def _jsonable(value: Any) -> Any:
    """Turn a value msgpack cannot pack (datetime, UUID, Decimal, set...) into JSON data."""
    if type(value) is int:
        # Called for integers beyond 64 bits; msgpack-lite sends those as float64 too.
        return float(value)
    return to_jsonable_python(value)


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True, default=_jsonable)


_loads_json = orjson.loads


_dump_json = jsontext.dumps


def _undecodable(exc: Exception) -> Malformed:
    # Nothing can be read back, so there is no id to answer (§2.6, "Malformed input").
    return Malformed(None, f"undecodable frame: {type(exc).__name__}: {exc}")


def _text(message: Any) -> str:
    # A scalar reads as itself; a container (which could be nested past any
    # recursion limit) is not turned into text.
    if type(message) is str:
        return message
    return str(message) if type(message) in (int, float, bool) else "Remote error"


def _error_from_record(id_: Any, record: dict[Any, Any], command: str) -> ErrorResponse | None:
    """Read an error record (§2.6) back; None when ``record`` is not one."""
    message = record.get("message")
    if not record.get("error") or not message:
        return None
    code = record.get("code")
    if type(code) is float and code.is_integer():
        code = int(code)
    elif type(code) is not int:
        code = _SERVER_ERROR
    message = _text(message)
    return ErrorResponse(id_, code, message, record.get("data"), command)


def _decode_object(obj: Any) -> Event:
    if type(obj) is not dict:
        return Malformed(None, "a message must be a map")
    instruction = obj.get("instruction")
    if type(instruction) is not dict:
        return Malformed(None, "instruction must be a map")
    command = instruction.get("command")
    if type(command) is not str:
        return Malformed(None, "command must be a string")
    kind = instruction.get("type")
    args = instruction.get("args")
    # JavaScript compares type with ===, for which 1.0 is 1 and true is not 1.
    if type(kind) is bool or kind not in (SYN, ACK, SYN_ACK):
        return _malformed(obj, command, "type must be 0, 1 or 2")
    if type(args) is not list:
        reason = "args must be an array"
        return _malformed(obj, command, reason) if kind == SYN else Malformed(None, reason)
    id_ = obj["id"] if "id" in obj else _new_id()
    if kind == SYN:
        return Request(id_, command, args)
    if kind == ACK:
        if args and type(args[0]) is dict:
            error = _error_from_record(id_, args[0], command)
            if error is not None:
                return error
        return Response(id_, tuple(args), command)
    return Acknowledge(id_, tuple(args), command)


def _malformed(obj: dict[Any, Any], command: str, reason: str) -> Malformed:
    if "id" not in obj:
        return Malformed(None, reason)
    reply = ErrorResponse(
        obj["id"], InvalidRequest.code, InvalidRequest.default_message, reason, command
    )
    return Malformed(reply, reason)


def _args(params: list[Any] | dict[str, Any] | None) -> list[Any]:
    # A v2 call is positional only: named params travel as one object.
    if params is None:
        return []
    if isinstance(params, dict):
        return [params]
    return params


def _error_record(event: ErrorResponse) -> dict[str, Any]:
    cls = error_class_for_code(event.code)
    message = event.message or cls.default_message
    # Truthy error, message and stack make the original client raise RemoteError (§2.6).
    record: dict[str, Any] = {
        "error": True,
        "message": message,
        "stack": f"{cls.__name__}: {' '.join(message.splitlines())} (code {event.code})",
        "code": event.code,
    }
    if event.data is not None:
        record["data"] = event.data
    return record


def _as_object(event: Outgoing) -> dict[str, Any]:
    args: Any
    if type(event) is Response:
        id_, args, command, kind = event.id, event.values, event.method, ACK
    elif type(event) is ErrorResponse:
        id_, args, command, kind = event.id, [_error_record(event)], event.method, ACK
    elif type(event) is Request:
        id_, args, command, kind = event.id, _args(event.params), event.method, SYN
    elif type(event) is Notification:
        id_, args, command, kind = _new_id(), _args(event.params), event.method, SYN
    elif type(event) is Acknowledge:
        # A SYN_ACK repeats the command of the call it confirms, as the original does (§2.1).
        id_, args, command, kind = event.id, event.values, event.method, SYN_ACK
    else:
        raise TypeError(f"the v2 dialect has no message for {type(event).__name__}")
    return {"id": id_, "instruction": {"args": args, "command": command, "type": kind}}


class V2Dialect:
    """The ws-promise v2 message logic, shared by the msgpack and JSON codecs.

    Stateless: one instance can serve every connection. Use
    :class:`V2MsgpackDialect` or :class:`V2JsonDialect`.
    """

    name: str
    text: bool
    extensions = False
    #: A caller confirms every reply with SYN_ACK (§2.4).
    acks = True

    def decode(self, frame: bytes | str) -> Event:
        """Decode one frame (see the module rules). Never raises."""
        raise NotImplementedError

    def encode(self, event: Outgoing) -> bytes:
        """Encode one outgoing event as one frame payload.

        Raises:
            TypeError: For an event type the dialect cannot carry, or a value
                that cannot be serialised.
        """
        raise NotImplementedError

    def encode_batch(self, events: list[Response | ErrorResponse]) -> bytes:
        """Always raises: the v2 dialect has no batches.

        Raises:
            TypeError: Always.
        """
        raise TypeError("the v2 dialect has no batches")


class V2MsgpackDialect(V2Dialect):
    """v2 in msgpack binary frames, the original's default (§2.2)."""

    name = SUBPROTOCOL
    text = False

    def decode(self, frame: bytes | str) -> Event:
        """Decode one binary frame (see the module rules). Never raises."""
        try:
            obj = _unpack(frame)
        except Exception as exc:  # bad bytes, extra data, depth, unhashable keys...
            return _undecodable(exc)
        return _decode_object(obj)

    def encode(self, event: Outgoing) -> bytes:
        """Encode one outgoing event as a binary frame payload.

        Values msgpack cannot pack go through ``pydantic_core.to_jsonable_python``
        (datetime and date to ISO 8601 strings, UUID and Decimal to strings, sets
        to arrays...), and integers beyond 64 bits become floats.

        Raises:
            TypeError: For an event type the dialect cannot carry, or a value
                that cannot be serialised.
            ValueError: For values nested too deeply for msgpack.
        """
        return _pack(_as_object(event))


class V2JsonDialect(V2Dialect):
    """v2 in JSON text frames, when both ends are configured for JSON (§2.2)."""

    name = SUBPROTOCOL_JSON
    text = True

    def decode(self, frame: bytes | str) -> Event:
        """Decode one text frame (see the module rules). Never raises."""
        try:
            obj = _loads_json(frame)
        except Exception as exc:  # orjson.JSONDecodeError, or a frame of the wrong type
            return _undecodable(exc)
        return _decode_object(obj)

    def encode(self, event: Outgoing) -> bytes:
        """Encode one outgoing event as a text frame payload (UTF-8 JSON).

        Raises:
            TypeError: For an event type the dialect cannot carry, or a value
                that cannot be serialised.
        """
        return _dump_json(_as_object(event))
