"""Exceptions raised by wsrpc_typed.

The tree::

    WsrpcError
    ├── RegistrationError (also TypeError)   a handler is misdeclared
    ├── RpcError                             travels on the wire as an error reply
    │   ├── ParseError          -32700
    │   ├── InvalidRequest      -32600
    │   ├── MethodNotFound      -32601
    │   ├── InvalidParams       -32602
    │   ├── InternalError       -32603
    │   ├── ServerBusy          -32001
    │   ├── DeadlineExceeded    -32002
    │   ├── Forbidden           -32003
    │   ├── ShuttingDown        -32004
    │   └── ResponseTooLarge    -32005
    ├── SchemaError (also ValueError)        a schema document cannot be built or read
    │   ├── SourceError                      a schema source names no router or document
    │   └── CodegenError                     ``wsrpc-gen`` cannot turn a schema into code
    │       └── RenderError                  the generated code does not parse (a bug)
    ├── Rejected                             raised by ``authenticate`` to refuse a handshake
    ├── ConnectionClosed (also ConnectionError)
    ├── HandshakeFailed (also ConnectionError)  ``connect`` did not get a WebSocket
    │   └── HandshakeRejected                 the server answered with an HTTP error
    ├── CallTimeout (also TimeoutError)      no reply within the call's timeout
    ├── AckTimeout (also TimeoutError)       the peer did not acknowledge a reply
    ├── NoSuchPeer (also LookupError)        no worker has a connection with that id
    └── BackplaneUnavailable (also ConnectionError)  the workers' backplane cannot be reached

Handlers raise :class:`RpcError` subclasses to send an application error with
its own code, message and data (typed by a pydantic model in ``data_model``).
Any other exception a handler raises becomes an opaque :class:`InternalError`
on the wire; its traceback goes to the log only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "AckTimeout",
    "BackplaneUnavailable",
    "CallTimeout",
    "CodegenError",
    "ConnectionClosed",
    "DeadlineExceeded",
    "Forbidden",
    "HandshakeFailed",
    "HandshakeRejected",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "MethodNotFound",
    "NoSuchPeer",
    "ParseError",
    "RegistrationError",
    "Rejected",
    "RenderError",
    "ResponseTooLarge",
    "RpcError",
    "SchemaError",
    "ServerBusy",
    "ShuttingDown",
    "SourceError",
    "WsrpcError",
    "error_class_for_code",
]


class WsrpcError(Exception):
    """Base class of every exception this package raises."""


class RegistrationError(WsrpcError, TypeError):
    """A handler cannot be registered as declared.

    The message names the handler, the parameter at fault and the fix.
    """


class RpcError(WsrpcError):
    """An error that travels to the peer as a structured error reply.

    Subclass it to declare an application error::

        class InsufficientFunds(RpcError):
            code = 1001
            default_message = "Insufficient funds"

        raise InsufficientFunds(data={"balance": 3})

    Give it a ``data_model`` (a pydantic model) to type its data: the data is then
    validated into the model when the error is raised and sent as the model's JSON
    form; the schema and the generated clients describe it::

        class Balance(BaseModel):
            balance: Decimal

        class InsufficientFunds(RpcError):
            code = 1001
            default_message = "Insufficient funds"
            data_model = Balance

        raise InsufficientFunds(data=Balance(balance=Decimal("3.50")))

    Attributes:
        code: The JSON-RPC error code.
        message: A short, human-readable description, sent to the peer.
        data: Optional structured detail, sent to the peer (must be JSON-serialisable
            or a pydantic-serialisable value). With a ``data_model``, the JSON form of
            the validated model.
        data_model: The pydantic model of ``data`` (``None``: untyped).
    """

    code: int = -32000
    default_message: ClassVar[str] = "Server error"
    data_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, message: str | None = None, data: Any = None, *, code: int | None = None):
        self.message: str = message if message is not None else self.default_message
        if data is not None and self.data_model is not None:
            # Validate now, so a wrong shape fails where it is raised, and keep the
            # JSON form, which is what travels.
            data = self.data_model.model_validate(data).model_dump(mode="json", by_alias=True)
        self.data: Any = data
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ParseError(RpcError):
    """The frame is not valid JSON (or msgpack)."""

    code = -32700
    default_message = "Parse error"


class InvalidRequest(RpcError):
    """The frame is not a valid request object."""

    code = -32600
    default_message = "Invalid Request"


class MethodNotFound(RpcError):
    """No method of that name is registered."""

    code = -32601
    default_message = "Method not found"


class InvalidParams(RpcError):
    """The params do not match the method's signature.

    ``data`` holds pydantic's error list: ``loc``, ``msg`` and ``type`` of each
    error, never the input.
    """

    code = -32602
    default_message = "Invalid params"


class InternalError(RpcError):
    """The handler failed unexpectedly. Deliberately opaque on the wire."""

    code = -32603
    default_message = "Internal error"


class ServerBusy(RpcError):
    """The server refuses the call because a limit on calls in flight is reached."""

    code = -32001
    default_message = "Server busy"


class DeadlineExceeded(RpcError):
    """The request's deadline (its ``timeout``) passed before the handler finished.

    The handler is cancelled. Also sent, without running the handler, for a
    request whose timeout is zero or negative.
    """

    code = -32002
    default_message = "Deadline exceeded"


class Forbidden(RpcError):
    """The connection's identity lacks a scope the method requires."""

    code = -32003
    default_message = "Forbidden"


class ShuttingDown(RpcError):
    """The server is draining: calls in flight finish, new calls are refused."""

    code = -32004
    default_message = "Server shutting down"


class ResponseTooLarge(RpcError):
    """The handler's result encodes to more than the server's ``max_reply_size``."""

    code = -32005
    default_message = "Response too large"


_STANDARD: dict[int, type[RpcError]] = {
    cls.code: cls
    for cls in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        ServerBusy,
        DeadlineExceeded,
        Forbidden,
        ShuttingDown,
        ResponseTooLarge,
    )
}


def error_class_for_code(code: int) -> type[RpcError]:
    """Return the built-in :class:`RpcError` subclass for a standard code, else RpcError."""
    return _STANDARD.get(code, RpcError)


class SchemaError(WsrpcError, ValueError):
    """A schema document cannot be built from a router, or read back."""


class SourceError(SchemaError):
    """A schema source (``pkg.module:attr``, a file or a ``ws://`` URL) cannot be loaded:
    the module does not import, the attribute is not a Router, the file cannot be read."""


class CodegenError(SchemaError):
    """``wsrpc-gen`` cannot turn the schema into code; the message says where and why."""


class RenderError(CodegenError):
    """The rendered module is not valid Python: a bug of the generator, not of the schema."""


class Rejected(WsrpcError):
    """Raise from ``authenticate`` to refuse a connection.

    Args:
        status: The HTTP status: 401 (who are you?) or 403 (not you), or any 4xx.
        reason: A short text sent as the response body. Keep secrets out of it.
    """

    def __init__(self, status: int = 401, reason: str = "Unauthorized") -> None:
        if not 400 <= status < 500:
            raise ValueError("a rejection needs a 4xx status")
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ConnectionClosed(WsrpcError, ConnectionError):
    """The connection closed before the call completed.

    Every call pending on a connection fails with this error as soon as the
    connection drops.

    Attributes:
        code: The WebSocket close code (RFC 6455 §7.4): the one received, else
            the one sent; 1006 when the connection dropped without a close frame.
        reason: The close reason that came with the code (may be empty).
    """

    def __init__(self, message: str = "connection closed", code: int = 1006, reason: str = ""):
        super().__init__(message)
        self.code = code
        self.reason = reason


class HandshakeFailed(WsrpcError, ConnectionError):
    """The opening handshake did not complete: no WebSocket was established.

    The server's response was not a valid WebSocket upgrade, the connection
    dropped during the handshake, or the handshake took longer than
    ``open_timeout``. (A server that cannot be reached at all raises
    :class:`OSError`, as sockets do.)
    """


class HandshakeRejected(HandshakeFailed):
    """The server answered the opening handshake with an HTTP error (401, 403, ...).

    Attributes:
        status: The HTTP status code.
        body: The response body, decoded as UTF-8 (replacement characters for
            anything else), for example the reason an ``authenticate`` hook gave.
        headers: The response headers.
    """

    def __init__(self, status: int, body: str = "", headers: Mapping[str, str] | None = None):
        super().__init__(f"the server rejected the WebSocket handshake: HTTP {status}")
        self.status = status
        self.body = body
        self.headers: Mapping[str, str] = dict(headers or {})


class CallTimeout(WsrpcError, TimeoutError):
    """No reply arrived within the call's timeout."""


class AckTimeout(WsrpcError, TimeoutError):
    """The peer did not acknowledge a reply in time (v2 dialect SYN_ACK)."""


class NoSuchPeer(WsrpcError, LookupError):
    """No worker of the deployment has an open connection with this id.

    Raised at once by calls through :meth:`wsrpc_typed.Server.peer`, instead of
    after the call's timeout.

    Attributes:
        connection_id: The id that was asked for.
    """

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"no connection {connection_id!r} on any worker")
        self.connection_id = connection_id


class BackplaneUnavailable(WsrpcError, ConnectionError):
    """The backplane that links the workers cannot be reached (for example Redis is down).

    Operations across workers (publish, calls to connections on other workers,
    presence) fail with it at once while it lasts; local ones keep working.
    """
