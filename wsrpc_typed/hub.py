"""The server's core, without I/O of its own: every server adapter hands its connections here.

A :class:`Hub` holds what a server is apart from its sockets: the options,
the handshake policy, the dialect choice, the open connections (each with an
id), the server's events, drain, broadcast, keepalive and the send watchdog.
An adapter (websockets today; ASGI and others the same way) reports each
opening handshake to :meth:`Hub.handshake`, answers as it says, and hands the
accepted connection's transport to :meth:`Hub.attach`. :class:`~wsrpc_typed.Server`
is the websockets adapter around a hub.

Rules of this module:

* A handshake is refused, in this order: a request with several ``Host``
  headers (400), a ``Host`` not in ``allowed_hosts`` (403), an ``Origin`` the
  policy does not admit (403), then whatever ``authenticate`` refuses
  (:class:`~wsrpc_typed.Rejected`: its status). A failing ``authenticate``
  hook is reported and answered with 500, never with its text.
* The dialect follows the subprotocol: the client's first offered one that we
  speak; with none, ``default_dialect`` (``"auto"`` detects it from the first
  frame).
* Each connection gets an id, unique across the workers of a deployment: the
  hub's ``worker_id`` (random), a dot, then a counter. What reaches beyond
  this hub goes through its :class:`Backplane`: topics and
  :meth:`Hub.publish`, calls to connections by id (:meth:`Hub.peer`) and
  :meth:`Hub.presence`. The in-process :class:`LocalBackplane` knows this
  hub's connections only; a shared one (Redis:
  :class:`wsrpc_typed.adapters.redis.RedisBackplane`) knows every worker's.
  :meth:`Hub.broadcast` stays on this hub: its ``where`` filter is a local
  function.
* Keepalive is one task for all connections: every ``ping_interval`` it pings
  each connection whose writes flow, and drops one whose pong does not come
  within ``ping_timeout``. A connection whose writes are stalled is not pinged
  (its ping would wait behind the data): the send watchdog drops it when it
  takes no data for ``send_timeout``.
* ``rpc.discover`` (the OpenRPC service discovery method) is served by the hub
  for its router, unless the router registers that name itself.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import secrets
from collections.abc import AsyncGenerator, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic_core import to_jsonable_python

from .calling import Params, wire_params
from .connection import Connection
from .dialects.detect import SUBPROTOCOLS, AutoDialect, dialect_for_subprotocol
from .dialects.events import Notification
from .errors import NoSuchPeer
from .interceptors import Interceptor
from .limits import CallBudget
from .registry import Method, Router, compile_method
from .schema import openrpc_document
from .security import Handshake, OriginPolicy, Rejected, origin_allowed
from .transport import Accepted, Refused, Transport

__all__ = ["Backplane", "Hub", "LocalBackplane", "Peer", "Present", "ServerEvent"]

logger = logging.getLogger("wsrpc_typed")

ServerEvent = Literal["connection", "error", "headers", "close", "backplane"]
#: ``authenticate(handshake) -> identity`` (or an awaitable of it); raises Rejected to refuse.
Authenticate = Callable[[Handshake], Any]
#: A filter on connections, for :meth:`Hub.broadcast`.
Where = Callable[[Connection], bool]

_LOOPBACK_NAMES = frozenset(("127.0.0.1", "localhost", "::1"))


@dataclass(frozen=True)
class Present:
    """A connection as :meth:`Hub.presence` lists it.

    Attributes:
        connection_id: The connection's id, unique across workers.
        identity: What the server's ``authenticate`` hook returned for it, as JSON
            (``None``: anonymous).
        topics: The topics it has joined.
    """

    connection_id: str
    identity: Any = None
    topics: frozenset[str] = field(default_factory=frozenset)


class Peer(Protocol):
    """A handle on one connection wherever it lives: what :meth:`Hub.peer` returns.

    The same calls as on a :class:`~wsrpc_typed.Connection` (``ctx.peer``), so a
    generated peer stub wraps either.
    """

    @property
    def id(self) -> str:
        """The connection's id."""
        ...

    async def call(self, method: str, params: Params = None, *, timeout: float | None = ...) -> Any:
        """Call ``method`` on that client and return its raw result."""
        ...

    def stream(self, method: str, params: Params = None) -> AsyncGenerator[Any, None]:
        """Call a streaming method on that client and iterate over its raw items."""
        ...

    async def notify(self, method: str, params: Params = None) -> None:
        """Send that client a notification."""
        ...


class Backplane(Protocol):
    """What links a hub to the other workers of a deployment.

    The in-process :class:`LocalBackplane` is the default: it knows this hub's
    connections only. A shared one (pub/sub between worker processes, see
    :class:`wsrpc_typed.adapters.redis.RedisBackplane`) implements the same
    methods across workers. The hub calls them; applications call the hub.
    """

    def bind(self, hub: Hub, /) -> None:
        """Deliver what this backplane receives to ``hub``'s connections from now on."""
        ...

    async def open(self) -> None:
        """Connect, before the hub accepts its first connection."""
        ...

    async def close(self) -> None:
        """Leave the deployment, once the hub's connections are closed."""
        ...

    async def broadcast(self, event: Notification, where: Where | None, timeout: float) -> int:
        """Send ``event`` to this hub's connections (that ``where`` accepts); return how many."""
        ...

    async def publish(self, topic: str, event: Notification, skip: str | None) -> None:
        """Deliver ``event`` to every member of ``topic`` on every worker, once each.

        ``skip``: the id of a connection that does not get it.
        """
        ...

    async def joined(self, topic: str) -> None:
        """A first connection of this hub joined ``topic``: deliver its events here from now on."""
        ...

    async def left(self, topic: str) -> None:
        """The last connection of this hub left ``topic``."""
        ...

    def connected(self, conn: Connection, /) -> None:
        """``conn`` opened on this hub (or changed its topics): tell the others, for presence."""
        ...

    def disconnected(self, conn: Connection, /) -> None:
        """``conn`` ended."""
        ...

    def peer(self, connection_id: str, /) -> Peer:
        """A handle on a connection that is not on this hub."""
        ...

    async def presence(self, topic: str | None, /) -> list[Present]:
        """Every connection of the deployment (in ``topic``), ordered by id."""
        ...


class LocalBackplane:
    """The in-process backplane: one hub is the whole deployment."""

    __slots__ = ("_hub",)

    def __init__(self) -> None:
        self._hub: Hub | None = None

    def bind(self, hub: Hub, /) -> None:
        self._hub = hub

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("the backplane is not bound to a hub")
        return self._hub

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def broadcast(self, event: Notification, where: Where | None, timeout: float) -> int:
        return await self.hub.deliver(event, where, timeout)

    async def publish(self, topic: str, event: Notification, skip: str | None) -> None:
        await self.hub.deliver_topic(topic, event, skip)

    async def joined(self, topic: str) -> None:
        pass

    async def left(self, topic: str) -> None:
        pass

    def connected(self, conn: Connection, /) -> None:
        pass

    def disconnected(self, conn: Connection, /) -> None:
        pass

    def peer(self, connection_id: str, /) -> Peer:
        return MissingPeer(connection_id)

    async def presence(self, topic: str | None, /) -> list[Present]:
        return self.hub.local_presence(topic)


class MissingPeer:
    """A handle on a connection that no worker has: every use raises :class:`NoSuchPeer`."""

    __slots__ = ("id",)

    def __init__(self, connection_id: str) -> None:
        self.id = connection_id

    async def call(
        self, method: str, params: Params = None, *, timeout: float | None = None
    ) -> Any:
        raise NoSuchPeer(self.id)

    async def stream(self, method: str, params: Params = None) -> AsyncGenerator[Any, None]:
        raise NoSuchPeer(self.id)
        yield  # pragma: no cover - makes this an async generator

    async def notify(self, method: str, params: Params = None) -> None:
        raise NoSuchPeer(self.id)


class _Served:
    """The methods a hub serves: its router's, and ``rpc.discover`` for that router."""

    __slots__ = ("_discover", "_router", "_size")

    def __init__(self, router: Router) -> None:
        self._router = router
        self._discover: Method | None = None
        self._size = (-1, -1)

    def get(self, name: str) -> Method | None:
        method = self._router.get(name)
        if method is None and name == "rpc.discover":
            return self._discover_method()
        return method

    def _discover_method(self) -> Method:
        # Built on first use and kept while the router's methods stay as they are.
        router = self._router
        size = (len(router), len(router.peer))
        if self._discover is None or size != self._size:
            document = openrpc_document(router)

            async def discover() -> dict[str, Any]:
                return dict(document)

            self._discover = compile_method(discover, "rpc.discover")
            self._size = size
        return self._discover


class Hub:
    """The transport-neutral core of a server (see the module rules).

    Takes the options of :class:`~wsrpc_typed.Server` that are not about
    sockets; read their meaning there.
    """

    def __init__(
        self,
        router: Router | None = None,
        *,
        default_dialect: str = "auto",
        max_in_flight: int = 64,
        max_calls: int | None = 1024,
        timeout: float | None = 30.0,
        ack_timeout: float = 30.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float | None = 10.0,
        origins: OriginPolicy = None,
        authenticate: Authenticate | None = None,
        interceptors: Sequence[Interceptor] = (),
        max_batch: int = 100,
        max_reply_size: int | None = 4 * 2**20,
        send_timeout: float | None = 10.0,
        allowed_hosts: Sequence[str] | None = None,
        loopback: bool = True,
        drain_timeout: float = 10.0,
        backplane: Backplane | None = None,
    ) -> None:
        if default_dialect != "auto":
            dialect_for_subprotocol(default_dialect)  # fail early on an unknown name
        self.router = router if router is not None else Router()
        self.default_dialect = default_dialect
        self.origins = origins
        self.authenticate = authenticate
        self.allowed_hosts: frozenset[str] | None = (
            frozenset(allowed_hosts)
            if allowed_hosts is not None
            else (_LOOPBACK_NAMES if loopback else None)
        )
        self.drain_timeout = drain_timeout
        self.close_timeout = close_timeout
        self.send_timeout = send_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._served = _Served(self.router)
        self._conn_options: dict[str, Any] = {
            "timeout": timeout,
            "ack_timeout": ack_timeout,
            "max_in_flight": max_in_flight,
            "max_batch": max_batch,
            "max_reply_size": max_reply_size,
            "interceptors": tuple(interceptors),
            "budget": None if max_calls is None else CallBudget(max_calls),
        }
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self.worker_id = secrets.token_hex(8)
        """This hub's id in the deployment: the prefix of its connections' ids."""
        self._ids = itertools.count(1)
        self._topics: dict[str, set[Connection]] = {}
        self._subscribing: dict[str, asyncio.Future[None]] = {}
        self.connections: set[Connection] = set()
        """The open connections."""
        self._by_id: dict[str, Connection] = {}
        #: Tasks nobody awaits (connections waiting for async listeners, backplane work).
        self._background: set[asyncio.Task[Any]] = set()
        self._watchers: list[asyncio.Task[None]] = []
        self.backplane: Backplane = backplane if backplane is not None else LocalBackplane()
        self.backplane.bind(self)

    # -- events -----------------------------------------------------------------------

    def on(self, event: ServerEvent, callback: Callable[..., Any]) -> None:
        """Listen to a server event (see :meth:`wsrpc_typed.Server.on`)."""
        if event not in ("connection", "error", "headers", "close", "backplane"):
            raise ValueError(f"unknown server event {event!r}")
        self._listeners.setdefault(event, []).append(callback)

    def emit(self, event: str, *args: Any) -> list[Any]:
        """Call ``event``'s listeners; return what they returned. A failing one is reported."""
        outcomes = []
        for callback in self._listeners.get(event, ()):
            try:
                outcomes.append(callback(*args))
            except Exception as exc:
                logger.exception("%r listener failed", event)
                if event != "error":
                    self.emit("error", exc)
        return outcomes

    def report(self, exc: BaseException) -> None:
        """Tell the ``error`` listeners about an unexpected failure."""
        self.emit("error", exc)

    # -- connections ------------------------------------------------------------------

    def connection(self, connection_id: str) -> Connection | None:
        """The open connection with this id on this worker, if any."""
        return self._by_id.get(connection_id)

    async def handshake(self, handshake: Handshake, /) -> Accepted | Refused:
        """Decide on an opening handshake (see the module rules)."""
        headers = handshake.headers
        get_all = getattr(headers, "get_all", None)
        hosts: list[str] = get_all("Host") if get_all else _present(headers.get("Host"))
        origins: list[str] = get_all("Origin") if get_all else _present(headers.get("Origin"))
        if len(hosts) > 1:
            return Refused(400, "One Host header, please")  # RFC 9112 §3.2
        host = hosts[0] if hosts else None
        if self.allowed_hosts is not None and _host_name(host) not in self.allowed_hosts:
            return Refused(403, "Host not allowed")
        if not origin_allowed(origins, host, self.origins):
            return Refused(403, "Origin not allowed")
        identity = None
        if self.authenticate is not None:
            try:
                identity = self.authenticate(handshake)
                if inspect.isawaitable(identity):
                    identity = await identity
            except Rejected as exc:
                return Refused(exc.status, exc.reason)
            except Exception as exc:
                logger.exception("authenticate hook failed")
                self.report(exc)
                return Refused(500, "Internal Server Error")
        # The client's order of preference wins; no match means no subprotocol, and the
        # default dialect applies (the original seed clients offer none).
        chosen = next((name for name in handshake.subprotocols if name in SUBPROTOCOLS), None)
        return Accepted(chosen, identity)

    def response_headers(self, headers: MutableMapping[str, str], request: Any, /) -> None:
        """Emit ``headers`` with the 101 response's headers, before they are sent."""
        self.emit("headers", headers, request)

    def attach(self, transport: Transport, accepted: Accepted, /) -> Connection:
        """Serve an accepted connection: emit ``connection``, then read it until it ends."""
        if accepted.subprotocol is not None:
            dialect: Any = dialect_for_subprotocol(accepted.subprotocol)
        elif self.default_dialect == "auto":
            dialect = AutoDialect()
        else:
            dialect = dialect_for_subprotocol(self.default_dialect)
        conn = Connection(
            transport,
            dialect,
            self._served,
            on_error=self.report,
            identity=accepted.identity,
            id=f"{self.worker_id}.{next(self._ids)}",
            **self._conn_options,
        )
        conn.hub = self
        self._by_id[conn.id] = conn
        self.connections.add(conn)
        self.backplane.connected(conn)
        conn.add_done_callback(self._ended)
        waits = [o for o in self.emit("connection", conn) if inspect.isawaitable(o)]
        if waits:  # async listeners run before the first message is read
            task = asyncio.ensure_future(self._start_after(conn, waits))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        else:
            conn.start()
        return conn

    async def _start_after(self, conn: Connection, waits: list[Any]) -> None:
        for outcome in waits:
            try:
                await outcome
            except Exception as exc:
                logger.exception("'connection' listener failed")
                self.report(exc)
        conn.start()

    def _ended(self, conn: Connection) -> None:
        del self._by_id[conn.id]
        self.connections.discard(conn)
        for topic in conn.topics:
            members = self._topics.get(topic)
            if members is not None:
                members.discard(conn)
                if not members:
                    del self._topics[topic]
                    self._later(self.backplane.left(topic))
        self.backplane.disconnected(conn)
        self.emit("close", conn)

    def _later(self, work: Any) -> None:
        """Run backplane work that nobody waits for; report it if it fails."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("backplane: %s", task.exception())

    # -- topics, addressed calls, presence --------------------------------------------

    async def join(self, conn: Connection, topic: str) -> None:
        """Make ``conn`` a member of ``topic``: it gets what :meth:`publish` sends there.

        Resolves once the backplane delivers the topic's events to this worker.
        """
        if conn.closed or conn.hub is not self:
            raise ValueError(f"connection {conn.id!r} is not open on this server")
        members = self._topics.get(topic)
        if members is None:
            # The first member subscribes; those who join meanwhile wait for the same answer.
            subscribing = self._subscribing.get(topic)
            if subscribing is None:
                subscribing = asyncio.ensure_future(self.backplane.joined(topic))
                self._subscribing[topic] = subscribing
                subscribing.add_done_callback(lambda _: self._subscribing.pop(topic, None))
            await asyncio.shield(subscribing)  # raises what the backplane raised
            members = self._topics.setdefault(topic, set())
        if conn in members or conn.closed:
            return
        members.add(conn)
        conn.topics.add(topic)
        self.backplane.connected(conn)

    async def leave(self, conn: Connection, topic: str) -> None:
        """End ``conn``'s membership of ``topic`` (nothing happens if it is not a member)."""
        members = self._topics.get(topic)
        if members is None or conn not in members:
            return
        members.discard(conn)
        conn.topics.discard(topic)
        self.backplane.connected(conn)
        if not members:
            del self._topics[topic]
            await self.backplane.left(topic)

    async def publish(
        self, topic: str, method: str, params: Any = None, *, skip: str | None = None
    ) -> None:
        """Notify every member of ``topic`` (but ``skip``, a connection id), once each.

        Notifications from one publisher arrive in the order it published them.
        A member that cannot take one within 5 s is disconnected, as with
        :meth:`broadcast`.

        Raises:
            BackplaneUnavailable: the backplane cannot be reached (other workers'
                members get nothing; this worker's still do).
        """
        await self.backplane.publish(topic, Notification(method, wire_params(params)), skip)

    async def deliver_topic(
        self, topic: str, event: Notification, skip: str | None = None, timeout: float = 5.0
    ) -> int:
        """Deliver ``event`` to this hub's members of ``topic`` but ``skip`` (the backplane's)."""
        members = self._topics.get(topic)
        if not members:
            return 0
        return await self.deliver(event, lambda c: c in members and c.id != skip, timeout)

    def peer(self, connection_id: str) -> Peer:
        """A handle for calls to the connection ``connection_id``, on whichever worker it is.

        A generated peer stub wraps it (``ChatPeer(server.peer(cid))``). Calls to
        an id that no worker has raise :class:`~wsrpc_typed.NoSuchPeer` at once.
        """
        conn = self._by_id.get(connection_id)
        if conn is not None:
            return conn
        return self.backplane.peer(connection_id)

    async def presence(self, topic: str | None = None) -> list[Present]:
        """Every open connection of the deployment (or of ``topic``), ordered by id."""
        return await self.backplane.presence(topic)

    def topics(self) -> list[str]:
        """The topics that connections of this hub have joined."""
        return list(self._topics)

    def local_presence(self, topic: str | None = None) -> list[Present]:
        """This hub's open connections (or those in ``topic``), ordered by id."""
        conns = self._by_id.values() if topic is None else self._topics.get(topic, ())
        return sorted(
            (
                Present(c.id, jsonable(c.identity), frozenset(c.topics))
                for c in conns
                if not c.closed
            ),
            key=lambda p: p.connection_id,
        )

    # -- life -------------------------------------------------------------------------

    def start(self) -> None:
        """Start keepalive and the send watchdog (once the adapter accepts connections)."""
        if self._watchers:
            return
        if self.send_timeout is not None:
            self._watchers.append(asyncio.create_task(self._watch_senders(self.send_timeout)))
        if self.ping_interval is not None:
            self._watchers.append(
                asyncio.create_task(self._keepalive(self.ping_interval, self.ping_timeout))
            )

    async def close(self, drain_timeout: float | None = None) -> None:
        """Drain and close every connection (see :meth:`wsrpc_typed.Server.close`).

        The adapter stops accepting connections first.
        """
        watchers, self._watchers = self._watchers, []
        for task in watchers:
            task.cancel()
        connections = list(self._by_id.values())
        for conn in connections:
            conn.drain()
        grace = self.drain_timeout if drain_timeout is None else drain_timeout
        try:
            async with asyncio.timeout(grace):
                await asyncio.gather(*(conn.wait_idle() for conn in connections))
        except TimeoutError:
            await asyncio.gather(*(conn.abandon_calls(self.close_timeout) for conn in connections))
        await asyncio.gather(
            *(conn.close(1001, "server shutting down", self.close_timeout) for conn in connections),
            return_exceptions=True,
        )
        await asyncio.gather(*(conn.wait_closed() for conn in connections))

    # -- broadcast --------------------------------------------------------------------

    async def broadcast(
        self,
        method: str,
        params: Any = None,
        *,
        where: Where | None = None,
        timeout: float = 5.0,
    ) -> int:
        """Send a notification to every connection (see :meth:`wsrpc_typed.Server.broadcast`)."""
        return await self.backplane.broadcast(
            Notification(method, wire_params(params)), where, timeout
        )

    async def deliver(self, event: Notification, where: Where | None, timeout: float) -> int:
        """Deliver ``event`` to this hub's connections (the backplane calls this)."""
        targets = [c for c in self._by_id.values() if not c.closed and (where is None or where(c))]
        delivered = await asyncio.gather(*(conn.deliver(event, timeout) for conn in targets))
        return sum(delivered)

    # -- watchdogs --------------------------------------------------------------------

    async def _keepalive(self, interval: float, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiting: dict[str, asyncio.TimerHandle | None] = {}  # pings not answered yet

        def answered(conn_id: str, pong: asyncio.Future[None]) -> None:
            handle = waiting.pop(conn_id, None)
            if handle is not None:
                handle.cancel()
            if not pong.cancelled():
                pong.exception()  # a closed connection: its end is handled elsewhere

        def overdue(conn: Connection) -> None:
            waiting.pop(conn.id, None)
            logger.info("dropping %s: no pong within %s s", conn.remote_address, timeout)
            conn.transport.abort()

        while True:
            await asyncio.sleep(interval)
            for conn in list(self._by_id.values()):
                if conn.id in waiting or conn.closed or conn.transport.send_backlog() is not None:
                    continue
                try:
                    pong = asyncio.ensure_future(conn.transport.ping())
                except Exception:
                    continue  # closed meanwhile
                waiting[conn.id] = (
                    None if timeout is None else loop.call_later(timeout, overdue, conn)
                )
                pong.add_done_callback(functools.partial(answered, conn.id))

    async def _watch_senders(self, send_timeout: float) -> None:
        """Disconnect clients that take no data for ``send_timeout`` while replies wait."""
        loop = asyncio.get_running_loop()
        stalled: dict[str, tuple[float, int]] = {}  # since when, backlog then
        while True:
            await asyncio.sleep(max(0.05, min(1.0, send_timeout / 4)))
            now = loop.time()
            for conn in list(self._by_id.values()):
                backlog = conn.transport.send_backlog()
                if backlog is None or conn.closed:
                    stalled.pop(conn.id, None)
                    continue
                since, before = stalled.get(conn.id, (now, backlog))
                if backlog < before:
                    since = now  # it is slow, but it reads
                stalled[conn.id] = (since, backlog)
                if now - since >= send_timeout:
                    logger.warning(
                        "dropping %s: it took no data for %.1f s", conn.remote_address, now - since
                    )
                    stalled.pop(conn.id)
                    conn.transport.abort()
            for conn_id in [i for i in stalled if i not in self._by_id]:
                del stalled[conn_id]


def jsonable(value: Any) -> Any:
    """``value`` as JSON data (an identity, for presence): what pydantic can dump, else its repr."""
    return to_jsonable_python(value, fallback=repr)


def _present(value: str | None) -> list[str]:
    return [] if value is None else [value]


def _host_name(host: str | None) -> str | None:
    """The name of a ``Host`` header, without port or IPv6 brackets."""
    if host is None:
        return None
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host
