"""wsrpc-typed: typed, schema-driven RPC for Python over WebSockets.

Handlers are plain typed functions in a :class:`Router`; :class:`Server` serves
them over JSON-RPC 2.0 and the ws-promise wire formats; :func:`connect` calls
them. Every request is validated against the handler's signature and every
result serialised through its declared type.
"""

from .client import Backoff, Client, connect
from .connection import Connection
from .context import Context
from .errors import (
    AckTimeout,
    BackplaneUnavailable,
    CallTimeout,
    ConnectionClosed,
    DeadlineExceeded,
    Forbidden,
    HandshakeFailed,
    HandshakeRejected,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    NoSuchPeer,
    ParseError,
    RegistrationError,
    ResponseTooLarge,
    RpcError,
    ServerBusy,
    ShuttingDown,
    WsrpcError,
)
from .hub import Backplane, LocalBackplane, Peer, Present
from .interceptors import Call, Interceptor, LoggingInterceptor
from .message import Message
from .registry import Method, Router
from .security import Handshake, Rejected
from .server import Server

__version__ = "0.1.0"

__all__ = [
    "AckTimeout",
    "Backoff",
    "Backplane",
    "BackplaneUnavailable",
    "Call",
    "CallTimeout",
    "Client",
    "Connection",
    "ConnectionClosed",
    "Context",
    "DeadlineExceeded",
    "Forbidden",
    "Handshake",
    "HandshakeFailed",
    "HandshakeRejected",
    "Interceptor",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "LocalBackplane",
    "LoggingInterceptor",
    "Message",
    "Method",
    "MethodNotFound",
    "NoSuchPeer",
    "ParseError",
    "Peer",
    "Present",
    "RegistrationError",
    "Rejected",
    "ResponseTooLarge",
    "Router",
    "RpcError",
    "Server",
    "ServerBusy",
    "ShuttingDown",
    "WsrpcError",
    "__version__",
    "connect",
]
