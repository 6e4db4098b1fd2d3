"""The legacy ws-rpc-client dialect: one JSON object per text frame.

Rules of this module (seed-protocol.md §1; the checklist is §4, "Legacy"):

* A frame is ``{"id": <id>, "payload": {"instruction": <instruction>, "args": [...]}}``,
  written in that key order; extra fields are ignored (§1.1).
* A **string** instruction is a request for that method. The **numbers** 0 and 1
  are a reply and an acknowledgement; the strings ``"0"`` and ``"1"`` are
  ordinary method names (§1.1).
* A missing ``args`` means ``[]``; a non-array ``args`` means ``[args]``
  (§1.1, §4 item 4). A reply may carry several values.
* ``id`` is kept verbatim, whatever its JSON type, ``null`` included. A frame
  without ``id`` gets a fresh UUID v4 string, as the original does (§1.3); the
  peer cannot match a reply to it, which is the original's behaviour too.
* The dialect has no notification and no error channel (§1.6). A notification
  goes out as a request with a fresh id; an error reply goes out as a reply
  whose single value is an error record ``{"error": true, "code", "message",
  "data"?}``. That record is our extension (§4 item 5): the original sends
  nothing, so its clients time out; a legacy client resolves with the record.
  Decoding turns such a record back into :class:`ErrorResponse`.
* Frames that are not such an object decode to :class:`Malformed`, with an
  error reply only when the frame has an ``id`` to answer.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson

from ..errors import InvalidRequest
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

__all__ = ["MESSAGE_ACKNOWLEDGEMENT", "MESSAGE_REPLY", "SUBPROTOCOL", "LegacyDialect"]

SUBPROTOCOL = "ws-rpc-legacy"

MESSAGE_REPLY = 0
MESSAGE_ACKNOWLEDGEMENT = 1

_loads = orjson.loads
_NO_ARGS: Any = object()
_SERVER_ERROR = -32000


def _new_id() -> str:
    # uuid@3 v4(): lower-case, hyphenated, 36 characters (§1.3).
    return str(uuid4())


def _malformed(obj: dict[str, Any], reason: str) -> Malformed:
    if "id" not in obj:
        return Malformed(None, reason)
    reply = ErrorResponse(obj["id"], InvalidRequest.code, InvalidRequest.default_message, reason)
    return Malformed(reply, reason)


def _text(message: Any) -> str:
    # A scalar reads as itself; a container (which could be nested past any
    # recursion limit) is not turned into text.
    if type(message) is str:
        return message
    return str(message) if type(message) in (int, float, bool) else "Remote error"


def _error_from_record(id_: Any, record: dict[str, Any]) -> ErrorResponse | None:
    """Read our error record (§4 legacy item 5) back; None when ``record`` is not one."""
    message = record.get("message")
    if not record.get("error") or not message:
        return None
    code = record.get("code")
    if type(code) is float and code.is_integer():
        code = int(code)
    elif type(code) is not int:
        code = _SERVER_ERROR
    return ErrorResponse(id_, code, _text(message), record.get("data"))


def _params_as_args(params: list[Any] | dict[str, Any] | None) -> list[Any]:
    # A legacy call is positional only: named params travel as one object (§1.1).
    if params is None:
        return []
    if isinstance(params, dict):
        return [params]
    return params


def _frame(id_: Any, instruction: str | int, args: Any) -> bytes:
    obj = {"id": id_, "payload": {"instruction": instruction, "args": args}}
    return jsontext.dumps(obj)


class LegacyDialect:
    """The ws-rpc-client codec. Stateless; one instance can serve every connection."""

    name = SUBPROTOCOL
    text = True
    extensions = False
    #: Acknowledgements (instruction 1) are accepted and ignored: the original clients no
    #: longer send them (§1.2, §1.4), so a replier must not wait for one.
    acks = False

    def decode(self, frame: bytes | str) -> Event:
        """Decode one text frame (see the module rules). Never raises."""
        try:
            obj = _loads(frame)
        except Exception as exc:  # orjson.JSONDecodeError, or a frame of the wrong type
            # Nothing can be read back, so there is no id to answer (§1.6, "Malformed input").
            return Malformed(None, f"invalid JSON: {exc}")
        if type(obj) is not dict:
            return Malformed(None, "a message must be a JSON object")
        payload = obj.get("payload")
        if type(payload) is not dict:
            return _malformed(obj, "payload must be an object")
        args = payload.get("args", _NO_ARGS)
        if type(args) is not list:
            args = [] if args is _NO_ARGS else [args]
        instruction = payload.get("instruction")
        if type(instruction) is str:
            return Request(obj["id"] if "id" in obj else _new_id(), instruction, args)
        # JavaScript compares with ===, for which 0.0 is 0 and true is not 1 (§1.1).
        kind = type(instruction)
        if kind is int or kind is float:
            id_ = obj["id"] if "id" in obj else _new_id()
            if instruction == MESSAGE_REPLY:
                if args and type(args[0]) is dict:
                    error = _error_from_record(id_, args[0])
                    if error is not None:
                        return error
                return Response(id_, tuple(args))
            if instruction == MESSAGE_ACKNOWLEDGEMENT:
                return Acknowledge(id_, tuple(args))
        return _malformed(obj, "instruction must be a method name, 0 or 1")

    def encode(self, event: Outgoing) -> bytes:
        """Encode one outgoing event as a text frame payload (UTF-8 JSON).

        Raises:
            TypeError: For an event type the dialect cannot carry, or a value
                that cannot be serialised.
        """
        if type(event) is Response:
            return _frame(event.id, MESSAGE_REPLY, event.values)
        if type(event) is ErrorResponse:
            record: dict[str, Any] = {"error": True, "code": event.code, "message": event.message}
            if event.data is not None:
                record["data"] = event.data
            return _frame(event.id, MESSAGE_REPLY, [record])
        if type(event) is Request:
            return _frame(event.id, event.method, _params_as_args(event.params))
        if type(event) is Notification:
            # No notifications in this dialect: send a request nobody waits for.
            return _frame(_new_id(), event.method, _params_as_args(event.params))
        if type(event) is Acknowledge:
            return _frame(event.id, MESSAGE_ACKNOWLEDGEMENT, event.values)
        raise TypeError(f"the legacy dialect has no message for {type(event).__name__}")

    def encode_batch(self, events: list[Response | ErrorResponse]) -> bytes:
        """Always raises: the legacy dialect has no batches.

        Raises:
            TypeError: Always.
        """
        raise TypeError("the legacy dialect has no batches")
