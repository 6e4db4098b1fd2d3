"""The per-call context a handler can ask for by annotating a parameter with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connection import Connection
    from .hub import Hub

__all__ = ["Context"]


class Context:
    """What a handler knows about the call it serves.

    Declare a parameter of this type to receive it; it is injected and is not
    part of the method's params or schema::

        @router.method
        async def whoami(ctx: Context) -> str:
            return ctx.headers.get("user-agent", "?")

    Attributes:
        connection: The connection the call arrived on.
        method: The method name as called.
        request_id: The request's id, or ``None`` for a notification.
        deadline: When the caller gives up, in the event loop's clock
            (``loop.time()``), or ``None`` when the request carried no timeout.
    """

    __slots__ = ("connection", "deadline", "method", "request_id")

    def __init__(
        self,
        connection: Connection,
        method: str,
        request_id: Any,
        deadline: float | None = None,
    ) -> None:
        self.connection = connection
        self.method = method
        self.request_id = request_id
        self.deadline = deadline

    @property
    def identity(self) -> Any:
        """Who the caller is, as the server's ``authenticate`` hook said (``None``: anonymous)."""
        return self.connection.identity

    @property
    def connection_id(self) -> str:
        """The caller's connection id, unique across the workers of a deployment."""
        return self.connection.id

    @property
    def server(self) -> Hub:
        """The server's hub: ``publish``, ``peer(connection_id)``, ``presence``, ``broadcast``.

        Raises:
            RuntimeError: the call arrived on a client (a server-to-client call).
        """
        if self.connection.hub is None:
            raise RuntimeError("this call did not arrive at a server")
        return self.connection.hub

    async def join(self, topic: str) -> None:
        """Make the caller's connection a member of ``topic`` (see ``Connection.join``)."""
        await self.connection.join(topic)

    async def leave(self, topic: str) -> None:
        """End the caller's membership of ``topic``."""
        await self.connection.leave(topic)

    @property
    def peer(self) -> Connection:
        """The other side: ``await ctx.peer.call(...)``, ``await ctx.peer.notify(...)``."""
        return self.connection

    def remaining(self) -> float | None:
        """Seconds left before the deadline (``None``: no deadline), to pass on as a timeout.

        ``await ctx.peer.call("x", timeout=ctx.remaining())`` keeps a nested call
        within the budget of the call being served.
        """
        if self.deadline is None:
            return None
        return self.deadline - self.connection.now()

    @property
    def headers(self) -> Mapping[str, str]:
        """The HTTP headers of the WebSocket handshake request (case-insensitive)."""
        return self.connection.request_headers

    @property
    def state(self) -> dict[str, Any]:
        """A dict that lives as long as the connection, for the application's use."""
        return self.connection.state

    @property
    def scope(self) -> Mapping[str, Any] | None:
        """The ASGI connection scope, when the connection came through ``RpcApp``.

        It holds the ``path`` (and ``root_path`` under a mount), the raw
        ``headers``, the ``client`` address, the application's ``state`` and
        what middleware put there (Starlette's ``user`` and ``auth``). ``None``
        on the other transports.
        """
        scope: Mapping[str, Any] | None = getattr(self.connection.transport, "scope", None)
        return scope

    @property
    def remote_address(self) -> Any:
        """The peer's network address, as the socket reports it."""
        return self.connection.remote_address
