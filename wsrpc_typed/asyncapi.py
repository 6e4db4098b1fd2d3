"""The AsyncAPI 3.0 document of an API: its one WebSocket channel, both directions.

Rules of this module:

* The document is one more rendering of an :class:`~wsrpc_typed.schema.ApiSpec`,
  so it is the same whatever the source of the spec (a router, a schema file, a
  live server's ``rpc.discover``), and :func:`~wsrpc_typed.schema.render_json`
  writes it deterministically.
* It describes the JSON-RPC 2.0 dialect (subprotocol ``jsonrpc-2.0``) as it is
  on the wire (``docs/protocol.md``): every message is a JSON-RPC 2.0 request,
  notification or response object (specification §4-5), and the extensions are
  the ``rpc.item``, ``rpc.credit`` and ``rpc.cancel`` notifications and the
  ``timeout`` and ``credit`` request members.
* Operations are the client's (AsyncAPI 3.0 §3.3.12): it *sends* its calls to
  the server's methods, each with a ``reply`` (the result or an error response)
  correlated by the JSON-RPC ``id``, and *receives* the server's calls to the
  peer methods, whose reply it sends back. Notifications have no reply.
* Schemas are the spec's, as JSON Schema draft 07 (the base of the AsyncAPI
  Schema Object): shared definitions live in ``components/schemas``.
* Component keys are the wire names with every character outside
  ``[A-Za-z0-9._-]`` (what AsyncAPI 3.0 allows in a component key) replaced by
  ``_``; two names that give one key are a :class:`SchemaError`.
* No I/O: this module imports neither asyncio nor websockets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .dialects.jsonrpc import SUBPROTOCOL
from .errors import SchemaError
from .registry import Router
from .schema import (
    ApiSpec,
    ErrorSpec,
    MethodSpec,
    ParamSpec,
    api_spec,
    map_subschemas,
    to_draft7,
)

__all__ = ["ASYNCAPI_VERSION", "CHANNEL", "asyncapi_document"]

ASYNCAPI_VERSION = "3.0.0"
#: The key of the one channel: the WebSocket connection.
CHANNEL = "rpc"
_CHANNEL_REF = {"$ref": f"#/channels/{CHANNEL}"}
_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_JsonDict = dict[str, Any]

_OPERATIONS_NOTE = (
    "The operations are the client's: it sends its calls to the server's methods "
    "(each reply is correlated to its call by the JSON-RPC `id`) and its notifications, "
    "and receives the server's calls to the methods the client implements (peer "
    "methods), whose reply it sends back. A stream method is called with a `credit` "
    "member; its items arrive as `rpc.item` notifications, more are granted with "
    "`rpc.credit`, and its response ends it. `rpc.cancel` gives up on a call."
)
_CHANNEL_NOTE = (
    "The WebSocket connection: one JSON-RPC 2.0 object per text frame, both ways "
    f"(subprotocol `{SUBPROTOCOL}`; a client that offers none is detected from its "
    "first frame). Params are sent by name (an object) or by position (an array, in "
    "the order of the object's properties). A request may carry `timeout` (seconds "
    "left to its deadline). Requests may also be sent as a batch (an array)."
)
_ID = {"type": ["string", "number"], "description": "The request's id."}
_ANY_ID = {
    "type": ["string", "number", "null"],
    "description": "The request's id (null when the request could not be read).",
}
_JSONRPC = {"const": "2.0"}
_BY_ID = {
    "description": "The JSON-RPC id of the request this message belongs to.",
    "location": "$message.payload#/id",
}
_BY_PARAMS_ID = {
    "description": "The JSON-RPC id of the request this message belongs to.",
    "location": "$message.payload#/params/id",
}


def asyncapi_document(source: Router | ApiSpec, *, server_url: str | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of an API.

    It has one channel (``channels/rpc``, the WebSocket endpoint) holding every
    message both ways, and operations from the client's point of view:

    * ``METHOD`` (``send``): the call, with a ``reply`` of its result message,
      its declared errors (``error.NAME``, the declared code as ``const``) and the
      other errors (``rpc.error``); ``METHOD.notify`` (``send``): the call as a
      notification, which has no reply. A stream method has no notification; its
      reply is the end of the stream, and ``METHOD.items`` (``receive``) its items.
    * ``peer.METHOD`` (``receive``, with a reply the client sends) and
      ``peer.METHOD.notify`` (``receive``): the server's calls and notifications
      to the peer methods (``router.peer``).
    * ``rpc.cancel`` (``send``) and ``rpc.credit`` (``send``, when a method
      streams); ``peer.rpc.cancel`` and ``peer.rpc.credit`` (``receive``) for the
      server's calls.

    Args:
        source: The API: a router, or its spec.
        server_url: The server's ``ws://`` or ``wss://`` URL, for the ``servers``
            entry and the channel's address (default: no server, address ``/``).

    Raises:
        SchemaError: ``server_url`` is not a ``ws://`` or ``wss://`` URL, or two
            names give one component key.
    """
    spec = source if isinstance(source, ApiSpec) else api_spec(source)
    messages: _JsonDict = {}
    operations: _JsonDict = {}
    error_codes = sorted({e.code for m in (*spec.methods, *spec.peer_methods) for e in m.errors})
    messages["rpc.error"] = _other_error_message(error_codes)
    for method in spec.methods:
        _add_method(method, "", "send", messages, operations)
    for method in spec.peer_methods:
        _add_method(method, "peer.", "receive", messages, operations)
    _add_controls(spec, messages, operations)
    channel: _JsonDict = {
        "address": "/",
        "title": "JSON-RPC 2.0 over WebSocket",
        "description": _CHANNEL_NOTE,
        "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
        "bindings": {"ws": _ws_binding()},
    }
    document: _JsonDict = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(spec),
        "defaultContentType": "application/json",
    }
    if server_url is not None:
        server, channel["address"] = _server(server_url)
        document["servers"] = {"server": server}
    document["channels"] = {CHANNEL: channel}
    document["operations"] = operations
    document["components"] = {
        "schemas": {name: _schema(schema) for name, schema in spec.defs.items()},
        "messages": messages,
    }
    return document


def _key(name: str) -> str:
    """A wire name as a component key (see the module rules)."""
    return _KEY_CHARS.sub("_", name)


def _put(table: _JsonDict, key: str, value: _JsonDict, name: str) -> None:
    # The same key twice is fine for the same object (an error two methods declare).
    if table.setdefault(key, value) != value:
        raise SchemaError(
            f"{name!r} becomes the AsyncAPI key {key!r}, which another name already has "
            "(only letters, digits, '.', '-' and '_' are kept); rename one of them"
        )


def _info(spec: ApiSpec) -> _JsonDict:
    info: _JsonDict = {"title": spec.title, "version": spec.version}
    note = _OPERATIONS_NOTE
    info["description"] = note if spec.description is None else f"{spec.description}\n\n{note}"
    return info


def _server(url: str) -> tuple[_JsonDict, str]:
    # The server entry and the channel's address (the URL's path).
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise SchemaError(f"the server URL must be ws://HOST[:PORT]/PATH or wss://..., not {url!r}")
    return {"host": parts.netloc, "protocol": parts.scheme}, parts.path or "/"


def _ws_binding() -> _JsonDict:
    protocol = {
        "type": "string",
        "description": f"Offer `{SUBPROTOCOL}` to speak JSON-RPC 2.0 from the first frame.",
    }
    return {
        "bindingVersion": "0.1.0",
        "method": "GET",
        "headers": {"type": "object", "properties": {"Sec-WebSocket-Protocol": protocol}},
    }


def _schema(schema: Mapping[str, Any]) -> _JsonDict:
    """A schema of the spec as an AsyncAPI Schema Object (JSON Schema draft 07)."""
    return map_subschemas(to_draft7(schema), _discriminator_name)


def _discriminator_name(node: _JsonDict) -> _JsonDict:
    # Pydantic writes OpenAPI's discriminator object; in an AsyncAPI schema the
    # discriminator is the property's name (the variants' const tags keep the mapping).
    discriminator = node.get("discriminator")
    if isinstance(discriminator, Mapping):
        node["discriminator"] = discriminator["propertyName"]
    return node


# -- one method ---------------------------------------------------------------------


def _add_method(
    method: MethodSpec,
    prefix: str,
    action: str,
    messages: _JsonDict,
    operations: _JsonDict,
) -> None:
    """Add the messages and operations of one method (``prefix`` "peer." for peer methods)."""
    name = method.name
    base = prefix + _key(name)
    request, done = f"{base}.request", f"{base}.end" if method.stream else f"{base}.result"
    _put(messages, request, _request_message(method), name)
    _put(messages, done, _result_message(method), name)
    errors = []
    for error in method.errors:
        key = "error." + _key(error.name)
        _put(messages, key, _error_message(error), error.name)
        errors.append(key)
    summary = f"Call `{name}`" + _who(prefix)
    operation = _operation(action, method, [request], [done, *errors, "rpc.error"], summary)
    _put(operations, base, operation, name)
    if method.stream:
        items, receive = f"{base}.item", "receive" if action == "send" else "send"
        _put(messages, items, _item_message(method), name)
        summary = f"The items of `{name}`" + _who(prefix)
        _put(operations, f"{base}.items", _operation(receive, method, [items], None, summary), name)
        return
    notification = f"{base}.notification"
    _put(messages, notification, _notification_message(method), name)
    summary = f"Notify `{name}`" + _who(prefix) + " (no reply)"
    operation = _operation(action, method, [notification], None, summary)
    _put(operations, f"{base}.notify", operation, name)


def _who(prefix: str) -> str:
    return " (the server calls the client)" if prefix else ""


def _operation(
    action: str, method: MethodSpec, sent: list[str], replies: list[str] | None, summary: str
) -> _JsonDict:
    operation: _JsonDict = {
        "action": action,
        "channel": _CHANNEL_REF,
        "summary": summary,
        "messages": _refs(sent),
    }
    if method.description is not None:
        operation["description"] = method.description
    if method.scopes:
        operation["x-scopes"] = list(method.scopes)
    if replies is not None:
        operation["reply"] = {"channel": _CHANNEL_REF, "messages": _refs(replies)}
    return operation


def _refs(keys: Iterable[str]) -> list[_JsonDict]:
    return [{"$ref": f"#/channels/{CHANNEL}/messages/{key}"} for key in keys]


def _params(params: tuple[ParamSpec, ...]) -> _JsonDict:
    """The schema of ``params``: an object by name, or an array by position."""
    by_name: _JsonDict = {
        "type": "object",
        "properties": {p.name: _schema(p.schema) for p in params},
        "additionalProperties": False,
    }
    required = [p.name for p in params if p.required]
    if required:
        by_name["required"] = required
    if not params:  # an empty tuple is no valid ``items`` (it needs one schema at least)
        return {"oneOf": [by_name, {"type": "array", "maxItems": 0}]}
    by_position: _JsonDict = {
        "type": "array",
        "items": [_schema(p.schema) for p in params],
        "additionalItems": False,
        "minItems": max(i + 1 for i, p in enumerate(params) if p.required) if required else 0,
    }
    return {"oneOf": [by_name, by_position]}


def _call_payload(method: MethodSpec, *, with_id: bool) -> _JsonDict:
    properties: _JsonDict = {"jsonrpc": _JSONRPC}
    required = ["jsonrpc", "method"]
    if with_id:
        properties["id"] = _ID
        required.insert(1, "id")
    properties["method"] = {"const": method.name}
    properties["params"] = _params(method.params)
    if any(p.required for p in method.params):
        required.append("params")
    payload: _JsonDict = {"type": "object", "properties": properties, "required": required}
    if with_id:
        properties["timeout"] = {
            "type": "number",
            "description": "Seconds left to the call's deadline (optional).",
        }
    else:
        payload["not"] = {"required": ["id"]}
    if method.stream:
        properties["credit"] = {
            "type": "integer",
            "minimum": 1,
            "description": "How many items the caller accepts before it grants more.",
        }
        required.append("credit")
    return payload


def _request_message(method: MethodSpec) -> _JsonDict:
    message: _JsonDict = {
        "title": f"{method.name} request",
        "payload": _call_payload(method, with_id=True),
        "correlationId": _BY_ID,
    }
    if method.description is not None:
        message["description"] = method.description
    if method.deprecated:
        message["deprecated"] = True
    return message


def _notification_message(method: MethodSpec) -> _JsonDict:
    message: _JsonDict = {
        "title": f"{method.name} notification",
        "summary": "The call without an id: it gets no reply.",
        "payload": _call_payload(method, with_id=False),
    }
    if method.deprecated:
        message["deprecated"] = True
    return message


def _response(id_schema: Mapping[str, Any], member: str, schema: Mapping[str, Any]) -> _JsonDict:
    return {
        "type": "object",
        "properties": {"jsonrpc": _JSONRPC, "id": dict(id_schema), member: dict(schema)},
        "required": ["jsonrpc", "id", member],
    }


def _result_message(method: MethodSpec) -> _JsonDict:
    if method.stream:
        return {
            "title": f"{method.name} end",
            "summary": "The end of the stream, after every item.",
            "payload": _response(_ID, "result", {"type": "null"}),
            "correlationId": _BY_ID,
        }
    return {
        "title": f"{method.name} result",
        "payload": _response(_ID, "result", _schema(method.result)),
        "correlationId": _BY_ID,
    }


def _item_message(method: MethodSpec) -> _JsonDict:
    params = {
        "type": "object",
        "properties": {"id": _ID, "item": _schema(method.result)},
        "required": ["id", "item"],
    }
    return {
        "title": f"{method.name} item",
        "summary": "One item of the stream (an rpc.item notification).",
        "payload": _notification("rpc.item", params),
        "correlationId": _BY_PARAMS_ID,
    }


def _notification(name: str, params: Mapping[str, Any]) -> _JsonDict:
    return {
        "type": "object",
        "properties": {"jsonrpc": _JSONRPC, "method": {"const": name}, "params": dict(params)},
        "required": ["jsonrpc", "method", "params"],
    }


# -- errors and control messages -----------------------------------------------------


def _error_message(error: ErrorSpec) -> _JsonDict:
    body: _JsonDict = {
        "type": "object",
        "properties": {
            "code": {"const": error.code},
            "message": {"type": "string", "default": error.message},
        },
        "required": ["code", "message"],
    }
    if error.data is not None:
        body["properties"]["data"] = _schema(error.data)
    message: _JsonDict = {
        "title": error.name,
        "payload": _response(_ID, "error", body),
        "correlationId": _BY_ID,
    }
    if error.description is not None:
        message["description"] = error.description
    return message


def _other_error_message(declared: list[int]) -> _JsonDict:
    code: _JsonDict = {"type": "integer"}
    if declared:
        code["not"] = {"enum": declared}
    body = {
        "type": "object",
        "properties": {"code": code, "message": {"type": "string"}, "data": {}},
        "required": ["code", "message"],
    }
    return {
        "title": "error",
        "summary": "Any other error response: the standard JSON-RPC and wsrpc-typed codes.",
        "description": (
            "-32700 parse error, -32600 invalid request (also a stream called without "
            "credit), -32601 method not found, -32602 invalid params (`data`: the list "
            "of errors, each with `loc`, `msg` and `type`), -32603 internal error, "
            "-32001 server busy, -32002 deadline exceeded, -32003 forbidden, -32004 "
            "server shutting down, -32005 response too large; or an application error "
            "that the method does not declare."
        ),
        "payload": _response(_ANY_ID, "error", body),
        "correlationId": _BY_ID,
    }


def _add_controls(spec: ApiSpec, messages: _JsonDict, operations: _JsonDict) -> None:
    """``rpc.cancel`` and ``rpc.credit``, in the directions the API uses them."""
    id_only = {"type": "object", "properties": {"id": _ID}, "required": ["id"]}
    messages["rpc.cancel"] = {
        "title": "rpc.cancel",
        "summary": "The caller gave up on the call: nothing more is sent for its id.",
        "payload": _notification("rpc.cancel", id_only),
        "correlationId": _BY_PARAMS_ID,
    }
    streams = any(m.stream for m in spec.methods)
    peer_streams = any(m.stream for m in spec.peer_methods)
    if streams or peer_streams:
        credit = {
            "type": "object",
            "properties": {"id": _ID, "credit": {"type": "integer", "minimum": 1}},
            "required": ["id", "credit"],
        }
        messages["rpc.credit"] = {
            "title": "rpc.credit",
            "summary": "The stream's consumer accepts `credit` more items.",
            "payload": _notification("rpc.credit", credit),
            "correlationId": _BY_PARAMS_ID,
        }
    operations["rpc.cancel"] = _control("send", "rpc.cancel", "Give up on a call to the server")
    if streams:
        summary = "Grant a stream from the server more items"
        operations["rpc.credit"] = _control("send", "rpc.credit", summary)
    if spec.peer_methods:
        summary = "The server gave up on its call"
        operations["peer.rpc.cancel"] = _control("receive", "rpc.cancel", summary)
    if peer_streams:
        summary = "The server grants a stream from the client more items"
        operations["peer.rpc.credit"] = _control("receive", "rpc.credit", summary)


def _control(action: str, message: str, summary: str) -> _JsonDict:
    return {
        "action": action,
        "channel": _CHANNEL_REF,
        "summary": summary,
        "messages": _refs([message]),
    }
