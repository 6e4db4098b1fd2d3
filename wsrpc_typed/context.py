"""The per-call context a handler can ask for by annotating a parameter with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Context"]


class Context:
    """What a handler knows about the call it serves.

    Declare a parameter of this type to receive it; it is injected and is not
    part of the method's params or schema::

        @router.method
        async def whoami(ctx: Context) -> str:
            return ctx.headers.get("user-agent", "?")

    Attributes:
        connection: The connection the call arrived on (``connection.peer`` calls
            the other side, ``connection.state`` is per-connection state).
        method: The method name as called.
        request_id: The request's id, or ``None`` for a notification.
    """

    __slots__ = ("connection", "method", "request_id")

    def __init__(self, connection: Connection, method: str, request_id: Any) -> None:
        self.connection = connection
        self.method = method
        self.request_id = request_id

    @property
    def headers(self) -> Mapping[str, str]:
        """The HTTP headers of the WebSocket handshake request (case-insensitive)."""
        return self.connection.request_headers

    @property
    def state(self) -> dict[str, Any]:
        """A dict that lives as long as the connection, for the application's use."""
        return self.connection.state

    @property
    def remote_address(self) -> Any:
        """The peer's network address, as the socket reports it."""
        return self.connection.remote_address
