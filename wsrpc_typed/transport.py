"""The transport interface a connection talks to, and its websockets implementation.

A transport moves whole WebSocket messages: send one, receive one, close. The
connection layer uses nothing else, so other transports (ASGI, picows) can be
added without touching dispatch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, cast

import websockets
from websockets.asyncio.connection import Connection as WebSocket

__all__ = ["SendFrame", "Transport", "WebsocketsTransport", "describe_close"]


class SendFrame(Protocol):
    """The signature of :attr:`Transport.send`."""

    def __call__(self, message: bytes, /, *, text: bool) -> Awaitable[None]: ...


class Transport(Protocol):
    """One message-oriented, bidirectional connection.

    ``recv`` and ``send`` raise :class:`ConnectionClosed`, or one of
    ``closed_errors`` (the underlying library's own exceptions, which the
    connection layer treats the same way: translating them would cost a
    coroutine per message on the hot path), once the connection is closed.
    """

    closed_errors: tuple[type[BaseException], ...]
    recv: Callable[[], Awaitable[bytes | str]]
    """Receive one message: a text frame as str (valid UTF-8), a binary frame as bytes."""
    send: SendFrame
    """Send one message: ``await send(frame, text=True)`` for a text frame, else binary."""

    @property
    def remote_address(self) -> Any:
        """The peer's address."""
        ...

    @property
    def request_headers(self) -> Mapping[str, str]:
        """Headers of the opening handshake request."""
        ...

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, if any."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and wait until it is closed."""
        ...

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (by either side, or dropped)."""
        ...

    def send_backlog(self) -> int | None:
        """Bytes waiting to be sent while the peer is not taking them, else ``None``.

        ``None`` means writes flow; a number means writes are paused (the
        buffers are full) with that many bytes queued.
        """
        ...

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake.

        For a peer that stopped reading: a closing handshake could not get through.
        """
        ...


class WebsocketsTransport:
    """A :class:`Transport` over a ``websockets`` asyncio connection (server or client side)."""

    __slots__ = ("_ws", "recv", "send")

    closed_errors: tuple[type[BaseException], ...] = (websockets.ConnectionClosed,)

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        # The connection's own methods, bound once: no wrapper coroutine per message.
        # Text frames come back as str: websockets decodes them, and fails the
        # connection with 1007 when one is not UTF-8 (RFC 6455 §8.1).
        self.recv = cast("Callable[[], Awaitable[bytes | str]]", ws.recv)
        self.send: SendFrame = ws.send

    @property
    def websocket(self) -> WebSocket:
        """The underlying ``websockets`` connection."""
        return self._ws

    @property
    def remote_address(self) -> Any:
        return self._ws.remote_address

    @property
    def request_headers(self) -> Mapping[str, str]:
        request = self._ws.request
        return request.headers if request is not None else {}

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)

    async def wait_closed(self) -> None:
        await self._ws.wait_closed()

    def send_backlog(self) -> int | None:
        if not self._ws.paused:
            return None
        size: int = self._ws.transport.get_write_buffer_size()
        return size

    def abort(self) -> None:
        self._ws.transport.abort()


def describe_close(exc: BaseException) -> str:
    """A short description of why a connection closed, from the error that said so."""
    if not isinstance(exc, websockets.ConnectionClosed):
        return str(exc) or "connection closed"
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection closed abnormally (1006)"
    return f"connection closed ({frame.code}{': ' + frame.reason if frame.reason else ''})"
