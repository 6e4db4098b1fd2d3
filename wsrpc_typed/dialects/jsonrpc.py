"""JSON-RPC 2.0 over WebSocket text frames: the native dialect.

Rules of this module (JSON-RPC 2.0 specification, sections 4-6):

* A frame holds one request/notification/response object or a batch (array).
* ``id`` may be a string, a number or null; absent means notification (§4.1).
* ``params`` is an array or an object, or absent (§4.2); anything else is -32600.
* A response has exactly one of ``result`` and ``error`` (§5).
* An empty batch is a single -32600 error, not an empty array (§6).
* A reply to a batch holds no entries for notifications; when nothing remains,
  nothing is sent (§6). That last rule is the caller's: see :meth:`encode_batch`.
* Frames that fail to parse get -32700 with ``id: null`` (§5.1).

Both directions use the same object: a server decodes requests and encodes
responses, a client does the opposite, and either side may send requests.

Extensions (names under ``rpc.``, which §4 reserves for them; a peer that does
not know them ignores the extra request members and never receives the
notifications unless it asked for a stream):

* a request may carry ``"timeout": <seconds>`` (its deadline, relative, so
  clocks need not agree) and ``"credit": <n>`` (it accepts a stream, with a
  flow-control window of n items);
* ``{"method": "rpc.cancel", "params": {"id": <id>}}``: the caller gave up;
* ``{"method": "rpc.item", "params": {"id": <id>, "item": <value>}}``: one
  stream item for that request (the stream ends with the request's response);
* ``{"method": "rpc.credit", "params": {"id": <id>, "credit": <n>}}``: the
  consumer may receive n more items.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import InvalidRequest, ParseError
from . import jsontext
from .events import (
    Batch,
    BatchItem,
    Cancel,
    Credit,
    ErrorResponse,
    Event,
    Malformed,
    Notification,
    Outgoing,
    Request,
    Response,
    StreamItem,
)

__all__ = ["SUBPROTOCOL", "JsonRpcDialect"]

SUBPROTOCOL = "jsonrpc-2.0"
_ABSENT: Any = object()  # a missing member (``None`` is a JSON null)

_loads = jsontext.loads
_dumps = jsontext.dumps


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _control(method: str, params: Any) -> BatchItem | Cancel | StreamItem | Credit | None:
    if type(params) is not dict or "id" not in params:
        return None
    if method == "rpc.cancel":
        return Cancel(params["id"])
    if method == "rpc.item":
        return StreamItem(params["id"], params.get("item"))
    if method == "rpc.credit" and type(params.get("credit")) is int and params["credit"] > 0:
        return Credit(params["id"], params["credit"])
    return None


def _invalid(reason: str, id: Any = None) -> Malformed:
    return Malformed(
        ErrorResponse(id, InvalidRequest.code, InvalidRequest.default_message, reason), reason
    )


def _valid_id(value: Any) -> bool:
    # Strings, numbers and null (§4); bool is a subclass of int in Python, so exclude it.
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _decode_object(obj: Any) -> BatchItem | Cancel | StreamItem | Credit:
    # Fast paths: the shapes every call sends (a request with an int or str id and
    # object or array params; a result). They decode exactly as the checks below would.
    if type(obj) is dict and obj.get("jsonrpc") == "2.0":
        method = obj.get("method")
        if type(method) is str:
            id_ = obj.get("id", _ABSENT)
            params = obj.get("params")
            kind = type(id_)
            if (kind is int or kind is str) and (type(params) is dict or type(params) is list):
                timeout, credit = obj.get("timeout"), obj.get("credit")
                if timeout is None and credit is None:
                    return Request(id_, method, params)
                if type(timeout) is float and credit is None:
                    return Request(id_, method, params, timeout)
        elif method is None and "result" in obj and "error" not in obj and "method" not in obj:
            return Response(obj.get("id"), (obj["result"],))
    return _decode_checked(obj)


def _decode_checked(obj: Any) -> BatchItem | Cancel | StreamItem | Credit:
    if type(obj) is not dict:
        return _invalid("a message must be a JSON object")
    if "method" in obj:
        method = obj["method"]
        has_id = "id" in obj
        id_ = obj.get("id")
        if has_id and not _valid_id(id_):
            return _invalid("id must be a string, a number or null")
        if obj.get("jsonrpc") != "2.0":
            return _invalid('"jsonrpc" must be exactly "2.0"', id_)
        if type(method) is not str:
            return _invalid("method must be a string", id_)
        params = obj.get("params")
        if params is not None and type(params) is not list and type(params) is not dict:
            return _invalid("params must be an array or an object", id_)
        if "params" in obj and params is None:
            return _invalid("params must be an array or an object", id_)
        if has_id:
            timeout, credit = obj.get("timeout"), obj.get("credit")
            if timeout is None and credit is None:
                return Request(id_, method, params)
            return Request(
                id_,
                method,
                params,
                timeout if _number(timeout) else None,
                credit if type(credit) is int and credit > 0 else None,
            )
        if method.startswith("rpc."):
            control = _control(method, params)
            if control is not None:
                return control
        return Notification(method, params)
    if "result" in obj or "error" in obj:
        if obj.get("jsonrpc") != "2.0":
            return _invalid('"jsonrpc" must be exactly "2.0"')
        id_ = obj.get("id")
        if "error" in obj:
            error = obj["error"]
            if "result" in obj or type(error) is not dict:
                return Malformed(None, "response with a malformed error member")
            code, message = error.get("code"), error.get("message")
            if type(code) is not int or type(message) is not str:
                return Malformed(None, "error member without integer code and string message")
            return ErrorResponse(id_, code, message, error.get("data"))
        return Response(id_, (obj["result"],))
    return _invalid(
        "not a request or a response", obj.get("id") if _valid_id(obj.get("id")) else None
    )


def _batch_item(obj: Any) -> BatchItem:
    item = _decode_object(obj)
    if type(item) is Cancel or type(item) is StreamItem or type(item) is Credit:
        return Malformed(None, "extension notifications are not allowed in a batch")
    return item  # type: ignore[return-value]


class JsonRpcDialect:
    """The JSON-RPC 2.0 codec. Stateless; one instance can serve every connection."""

    name = SUBPROTOCOL
    text = True
    extensions = True
    acks = False

    def decode(self, frame: bytes | str) -> Event:
        """Decode one frame (see the module rules)."""
        try:
            obj = _loads(frame)
        except orjson.JSONDecodeError as exc:
            reason = f"invalid JSON: {exc.msg}"
            return Malformed(
                ErrorResponse(None, ParseError.code, ParseError.default_message, reason), reason
            )
        if type(obj) is list:
            if not obj:
                return _invalid("empty batch")
            return Batch(tuple(_batch_item(item) for item in obj))
        return _decode_object(obj)

    def encode(self, event: Outgoing) -> bytes:
        """Encode one outgoing event as a JSON text frame payload (UTF-8 bytes)."""
        return _dumps(self._as_object(event))

    def encode_batch(self, events: list[Response | ErrorResponse]) -> bytes:
        """Encode the replies to a batch as one JSON array."""
        return _dumps([self._as_object(event) for event in events])

    @staticmethod
    def _as_object(event: Outgoing) -> dict[str, Any]:
        if type(event) is Response:
            values = event.values
            result = values[0] if len(values) == 1 else (list(values) if values else None)
            return {"jsonrpc": "2.0", "id": event.id, "result": result}
        if type(event) is ErrorResponse:
            error: dict[str, Any] = {"code": event.code, "message": event.message}
            if event.data is not None:
                error["data"] = event.data
            return {"jsonrpc": "2.0", "id": event.id, "error": error}
        if type(event) is Request:
            obj: dict[str, Any] = {"jsonrpc": "2.0", "id": event.id, "method": event.method}
            if event.params is not None:
                obj["params"] = event.params
            if event.timeout is not None:
                obj["timeout"] = event.timeout
            if event.credit is not None:
                obj["credit"] = event.credit
            return obj
        if type(event) is StreamItem:
            params: dict[str, Any] = {"id": event.id, "item": event.item}
            return {"jsonrpc": "2.0", "method": "rpc.item", "params": params}
        if type(event) is Cancel:
            return {"jsonrpc": "2.0", "method": "rpc.cancel", "params": {"id": event.id}}
        if type(event) is Credit:
            params = {"id": event.id, "credit": event.credit}
            return {"jsonrpc": "2.0", "method": "rpc.credit", "params": params}
        if type(event) is Notification:
            obj = {"jsonrpc": "2.0", "method": event.method}
            if event.params is not None:
                obj["params"] = event.params
            return obj
        raise TypeError(f"JSON-RPC 2.0 has no message for {type(event).__name__}")
