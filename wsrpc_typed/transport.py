"""The transport interface a connection talks to, and its websockets implementation.

A transport moves whole WebSocket messages: send one, receive one, close. The
connection layer uses nothing else, so other transports (ASGI, picows) can be
added without touching dispatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import websockets
from websockets.asyncio.connection import Connection as WebSocket

from .errors import ConnectionClosed

__all__ = ["Transport", "WebsocketsTransport"]


class Transport(Protocol):
    """One message-oriented, bidirectional connection."""

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

    async def recv(self) -> bytes:
        """Receive one message (text or binary) as bytes.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        ...

    async def send(self, frame: bytes, text: bool) -> None:
        """Send one message as a text frame (``text=True``) or a binary frame.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and wait until it is closed."""
        ...

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake.

        For a peer that stopped reading: a closing handshake could not get through.
        """
        ...


class WebsocketsTransport:
    """A :class:`Transport` over a ``websockets`` asyncio connection (server or client side)."""

    __slots__ = ("_ws",)

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

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

    async def recv(self) -> bytes:
        try:
            return await self._ws.recv(decode=False)
        except websockets.ConnectionClosed as exc:
            raise ConnectionClosed(_describe(exc)) from None

    async def send(self, frame: bytes, text: bool) -> None:
        try:
            await self._ws.send(frame, text=text)
        except websockets.ConnectionClosed as exc:
            raise ConnectionClosed(_describe(exc)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)

    def abort(self) -> None:
        self._ws.transport.abort()


def _describe(exc: websockets.ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection closed abnormally (1006)"
    return f"connection closed ({frame.code}{': ' + frame.reason if frame.reason else ''})"
