"""The client: ``async with connect(url) as conn: await conn.call(...)``."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import ssl as ssl_module
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, overload

from .adapters.websockets import connect as ws_connect
from .calling import DEFAULT, Params, result_of
from .connection import Connection, SeedHandler
from .dialects.detect import dialect_for_subprotocol
from .dialects.jsonrpc import SUBPROTOCOL as JSONRPC
from .errors import CallTimeout, ConnectionClosed
from .interceptors import Call, Interceptor, intercept
from .registry import Router
from .transport import Transport, TransportName

__all__ = ["Backoff", "Client", "connect"]

logger = logging.getLogger("wsrpc_typed")

T = TypeVar("T")
#: Jitter from the OS, not the ``random`` module: an application (or a test tool) that
#: seeds the global generator must not make every client retry in lockstep.
_jitter = random.SystemRandom()


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnection delays: exponential with jitter.

    The n-th retry (n from 0) waits a random time between half and all of
    ``min(maximum, initial * factor ** n)`` seconds. ``attempts`` bounds the
    retries in a row (``None``: no bound).
    """

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    attempts: int | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        cap = min(self.maximum, self.initial * self.factor**attempt)
        return cap / 2 + _jitter.uniform(0, cap / 2)


class Client:
    """A client connection to a wsrpc-typed (or any JSON-RPC 2.0 WebSocket) server.

    Open it with ``await connect(url)`` or ``async with connect(url) as conn``
    (:func:`connect` is this class). Calls made while it reconnects wait for the
    new connection (within their timeout); calls in flight when the connection
    drops fail with :class:`ConnectionClosed` and are never re-sent.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        router: Methods the server may call on this client.
        timeout: Default per-call timeout in seconds (``None``: wait forever).
        subprotocol: The dialect to speak (default JSON-RPC 2.0).
        reconnect: Reconnect automatically after the connection drops: ``True`` for
            the default :class:`Backoff`, or a :class:`Backoff`.
        max_in_flight: Handler tasks (calls from the server) before the client stops reading.
        max_calls_out: Calls on the wire at once; more wait their turn in the client
            (``None``: no limit). Keep it at or below the server's ``max_in_flight``:
            a server at its cap stops reading, and the calls behind it wait there.
        max_size: Largest incoming message in bytes.
        compression: ``None`` (default) or ``"deflate"``.
        open_timeout: Seconds allowed for the opening handshake.
        ping_interval: Seconds between keepalive pings (``None`` disables them).
        ping_timeout: Seconds to wait for a pong before dropping the connection
            (then it reconnects, if asked to).
        headers: Extra HTTP headers for the handshake.
        ssl: An SSL context for ``wss://`` URLs (default: the system's trust store).
        on_reconnect: Called (and awaited, if async) with the client after each
            successful reconnection: the place to re-subscribe or re-open the
            streams the application was consuming. The client itself never
            re-sends a call.
        interceptors: Hooks around every outgoing call (see :mod:`wsrpc_typed.interceptors`).
        transport: ``"websockets"`` (default) or ``"picows"``, the faster one
            (``pip install "wsrpc-typed[fast]"``; no ``compression``). Either talks
            to a server on either.
    """

    def __init__(
        self,
        url: str,
        *,
        router: Router | None = None,
        timeout: float | None = 30.0,
        subprotocol: str = JSONRPC,
        reconnect: bool | Backoff = False,
        max_in_flight: int = 64,
        max_calls_out: int | None = 64,
        max_size: int | None = 2**20,
        compression: Literal["deflate"] | None = None,
        open_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        on_reconnect: Callable[[Client], Any] | None = None,
        interceptors: Sequence[Interceptor] = (),
        transport: TransportName = "websockets",
    ) -> None:
        if transport not in ("websockets", "picows"):
            raise ValueError(f"unknown transport {transport!r}; choose websockets or picows")
        if transport == "picows" and compression is not None:
            raise ValueError("the picows transport has no compression (use compression=None)")
        self.transport = transport
        """Which library runs the socket: ``"websockets"`` or ``"picows"``."""
        self.url = url
        self.router = router
        self.timeout = timeout
        self._dialect = dialect_for_subprotocol(subprotocol)
        self._backoff = Backoff() if reconnect is True else (reconnect or None)
        self._max_in_flight = max_in_flight
        self._max_calls_out = max_calls_out
        self._ws_options: dict[str, Any] = {
            "subprotocols": [subprotocol],
            "max_size": max_size,
            "compression": compression,
            "open_timeout": open_timeout,
            "headers": dict(headers) if headers else None,
        }
        if ssl is not None:
            self._ws_options["ssl"] = ssl
        self._keepalive_every = (ping_interval, ping_timeout)
        self._handlers: dict[str, SeedHandler] = {}
        self._on_reconnect = on_reconnect
        self._interceptors = tuple(interceptors)
        self._conn: Connection | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._reader: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._gave_up = False
        self.reconnects = 0
        """How many times the client has reconnected."""

    @property
    def connection(self) -> Connection:
        """The current connection.

        Raises:
            ConnectionClosed: there is none (closed, or reconnecting).
        """
        if self._conn is None or self._conn.closed:
            raise ConnectionClosed("not connected")
        return self._conn

    async def open(self) -> Self:
        """Connect; resolves once the handshake is done.

        Raises:
            OSError: the server cannot be reached.
            HandshakeRejected: the server refused the WebSocket handshake (an HTTP
                error such as 401 or 403; ``status`` and ``body`` say which).
            HandshakeFailed: the handshake failed otherwise (not a WebSocket
                server, a timeout, the connection lost during the handshake).
        """
        self._closing = self._gave_up = False
        await self._connect_once()
        return self

    async def _open_transport(self) -> Transport:
        """Open the connection's transport: the opening handshake (override to swap it)."""
        if self.transport == "picows":
            from .adapters.picows import connect as picows_connect

            return await picows_connect(self.url, **self._ws_options)
        return await ws_connect(self.url, **self._ws_options)

    async def _connect_once(self) -> None:
        conn = Connection(
            await self._open_transport(),
            self._dialect,
            self.router,
            timeout=self.timeout,
            max_in_flight=self._max_in_flight,
            max_calls_out=self._max_calls_out,
        )
        for name, handler in self._handlers.items():
            conn.on(name, handler)
        self._conn = conn
        conn.start()
        interval, timeout = self._keepalive_every
        pinger = (
            None if interval is None else asyncio.create_task(_keepalive(conn, interval, timeout))
        )
        self._reader = asyncio.create_task(self._read(conn, pinger))
        self._connected.set()

    async def _read(self, conn: Connection, pinger: asyncio.Task[None] | None) -> None:
        try:
            await conn.wait_closed()
        finally:
            if pinger is not None:
                pinger.cancel()
        self._connected.clear()
        if not self._closing and self._backoff is not None:
            self._reconnector = asyncio.create_task(self._reconnect(self._backoff))

    async def _reconnect(self, backoff: Backoff) -> None:
        attempt = 0
        while not self._closing:
            if backoff.attempts is not None and attempt >= backoff.attempts:
                logger.warning("giving up reconnecting to %s after %d attempts", self.url, attempt)
                self._gave_up = True
                self._connected.set()  # wake the calls waiting for a connection: none will come
                return
            await asyncio.sleep(backoff.delay(attempt))
            try:
                await self._connect_once()
            except (OSError, TimeoutError, Exception) as exc:
                attempt += 1
                logger.info("reconnecting to %s failed (%s); attempt %d", self.url, exc, attempt)
            else:
                self.reconnects += 1
                if self._on_reconnect is not None:
                    try:
                        outcome = self._on_reconnect(self)
                        if inspect.isawaitable(outcome):
                            await outcome
                    except Exception:
                        logger.exception("on_reconnect callback failed")
                return

    async def _current(self, timeout: float | None) -> Connection:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        if self._closing or self._backoff is None or self._gave_up:
            raise ConnectionClosed("the client is not connected")
        if conn is not None:  # ended, and its teardown has not finished yet
            self._connected.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise CallTimeout(f"not reconnected to {self.url} within {timeout} s") from None
        return await self._current(timeout)

    def on(self, method: str, handler: SeedHandler) -> None:
        """Handle calls from the server to ``method`` with a seed-style handler."""
        self._handlers[method] = handler
        if self._conn is not None:
            self._conn.on(method, handler)

    @overload
    async def call(
        self,
        method: str,
        params: Params = None,
        *,
        result_type: type[T],
        timeout: float | None = ...,
    ) -> T: ...

    @overload
    async def call(
        self,
        method: str,
        params: Params = None,
        *,
        result_type: None = None,
        timeout: float | None = ...,
    ) -> Any: ...

    async def call(
        self,
        method: str,
        params: Params = None,
        *,
        result_type: Any = None,
        timeout: float | None = DEFAULT,
    ) -> Any:
        """Call ``method`` on the server and return its result.

        Args:
            method: The method name.
            params: Named params (a dict) or positional params (a list).
            result_type: Validate the result as this type; the call is then typed.
            timeout: Seconds to wait (default: the client's ``timeout``).

        Raises:
            RpcError: the server answered with an error (the matching subclass).
            CallTimeout: no reply in time.
            ConnectionClosed: the connection ended before the reply.
            pydantic.ValidationError: the result does not match ``result_type``.
        """
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._current(self.timeout if timeout is DEFAULT else timeout)
        if not self._interceptors:
            return result_of(await conn.request(method, params, timeout=timeout), result_type)
        return await intercept(
            self._interceptors,
            Call(method, params, "client"),
            lambda: conn.call(method, params, result_type=result_type, timeout=timeout),
        )

    @overload
    def stream(
        self,
        method: str,
        params: Params = None,
        *,
        item_type: type[T],
        window: int = 16,
        timeout: float | None = None,
    ) -> AsyncGenerator[T, None]: ...

    @overload
    def stream(
        self,
        method: str,
        params: Params = None,
        *,
        item_type: None = None,
        window: int = 16,
        timeout: float | None = None,
    ) -> AsyncGenerator[Any, None]: ...

    async def stream(
        self,
        method: str,
        params: Params = None,
        *,
        item_type: Any = None,
        window: int = 16,
        timeout: float | None = None,
    ) -> AsyncGenerator[Any, None]:
        """Call a streaming method and iterate over its items (see :meth:`Connection.stream`)."""
        conn = await self._current(self.timeout)
        items = conn.stream(method, params, item_type=item_type, window=window, timeout=timeout)
        async with contextlib.aclosing(items):
            async for item in items:
                yield item

    async def notify(self, method: str, params: Params = None) -> None:
        """Send a notification (no reply)."""
        conn = await self._current(self.timeout)
        await conn.notify(method, params)

    async def close(self) -> None:
        """Close the connection (code 1000) and stop reconnecting. Idempotent."""
        self._closing = True
        if self._reconnector is not None:
            self._reconnector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnector
        if self._conn is not None:
            await self._conn.close()
        if self._reader is not None:
            await self._reader

    def __await__(self) -> Generator[Any, None, Self]:
        return self.open().__await__()

    async def __aenter__(self) -> Self:
        if self._conn is None:
            await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def _keepalive(conn: Connection, interval: float, timeout: float | None) -> None:
    """Ping every ``interval`` seconds; drop the connection when a pong is ``timeout`` late.

    No ping goes out while writes are stalled (it would wait behind the data).
    """
    transport = conn.transport
    while not conn.closed:
        await asyncio.sleep(interval)
        if transport.send_backlog() is not None:
            continue
        try:
            async with asyncio.timeout(timeout):
                await transport.ping()
        except TimeoutError:
            logger.info(
                "dropping the connection to %s: no pong within %s s", conn.remote_address, timeout
            )
            transport.abort()
            return
        except ConnectionClosed:
            return


connect = Client
"""Connect to a server: ``async with connect(url) as conn`` or ``conn = await connect(url)``.

An alias of :class:`Client` (the connection opens on ``await`` or ``async with``),
so it takes the same, typed, arguments.
"""
