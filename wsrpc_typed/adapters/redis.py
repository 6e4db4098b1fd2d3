"""A backplane through Redis: topics, calls to connections by id and presence across workers.

``Server(router, backplane=RedisBackplane("redis://127.0.0.1:6379/0"))`` on each
worker (or machine) links them: :meth:`~wsrpc_typed.Server.publish` reaches a
topic's members on every worker, :meth:`~wsrpc_typed.Server.peer` calls a
client wherever its connection is, and :meth:`~wsrpc_typed.Server.presence`
lists every worker's connections. It needs the ``redis`` package
(``pip install "wsrpc-typed[redis]"``).

How it uses Redis (every key and channel starts with ``namespace``):

* Pub/sub channels: ``NS:topic:NAME`` per topic, to which a worker subscribes
  while one of its connections is a member, and ``NS:worker:ID`` per worker,
  which carries addressed calls, their replies and stream items. A connection
  id starts with its worker's id, so a call goes to that worker's channel
  alone; ``PUBLISH`` says how many workers heard it, and none means
  :class:`~wsrpc_typed.NoSuchPeer` at once.
* Presence: a sorted set ``NS:workers`` (worker id, scored by when its
  heartbeat expires) and a hash ``NS:conns:ID`` per worker (connection id to
  its identity and topics), written every ``heartbeat`` seconds and expiring
  after ``ttl``. A worker that dies without a goodbye (``kill -9``) drops out
  within ``ttl``; calls waiting on its connections fail then with
  :class:`~wsrpc_typed.ConnectionClosed`.

Delivery: Redis pub/sub is at most once. Each member of a topic gets a
publication once, in the order one publisher published; a worker that is cut
off from Redis misses what is published meanwhile (its members are not told
again). While Redis cannot be reached, cross-worker operations raise
:class:`~wsrpc_typed.BackplaneUnavailable` at once, calls waiting for a reply
from another worker fail with it, and the hub's ``backplane`` event says
``"lost"``; once Redis answers again the backplane subscribes again, writes
its presence again and says ``"restored"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import orjson
from pydantic_core import to_jsonable_python
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..calling import Params, wire_params
from ..connection import Connection
from ..dialects.events import Notification
from ..errors import (
    BackplaneUnavailable,
    CallTimeout,
    ConnectionClosed,
    NoSuchPeer,
    ResponseTooLarge,
    RpcError,
    error_class_for_code,
)
from ..hub import Hub, Present, Where, jsonable

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

__all__ = ["RedisBackplane"]

logger = logging.getLogger("wsrpc_typed.backplane")

_UNSET: Any = object()


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=to_jsonable_python)


class RedisBackplane:
    """Link the workers of a deployment through one Redis server.

    Args:
        url: The Redis server, ``redis://HOST:PORT/DB`` (``rediss://`` for TLS).
        namespace: Prefix of every key and channel: deployments that share a
            Redis server keep apart by it.
        heartbeat: Seconds between presence writes.
        ttl: Seconds after which a silent worker counts as gone (its
            connections leave presence, calls waiting on them fail).
        call_timeout: Default timeout of calls to connections on other workers.
        max_message_size: Largest message between workers, in bytes. Redis
            disconnects a subscriber whose output buffer passes 32 MB (8 MB for
            a minute, ``client-output-buffer-limit pubsub``), and that worker then
            misses everything: a publication or call larger than this raises
            ``ValueError`` at once, and a reply or stream item larger than this
            comes back as :class:`~wsrpc_typed.ResponseTooLarge`.
        client: A ``redis.asyncio.Redis`` to use instead of one made from ``url``
            (the backplane then leaves closing it to you).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "wsrpc",
        heartbeat: float = 2.0,
        ttl: float = 6.0,
        call_timeout: float | None = 30.0,
        max_message_size: int = 2**20,
        client: Redis | None = None,
    ) -> None:
        if ttl <= heartbeat:
            raise ValueError("ttl must be longer than heartbeat")
        self.url = url
        self.namespace = namespace
        self.heartbeat = heartbeat
        self.ttl = ttl
        self.call_timeout = call_timeout
        self.max_message_size = max_message_size
        self._own_client = client is None
        self._redis: Redis = client if client is not None else Redis.from_url(url)
        self._hub: Hub | None = None
        self._pubsub: PubSub | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._subscribed: dict[bytes, asyncio.Future[None]] = {}
        self._ids = itertools.count(1)
        #: Our calls (and streams) to other workers' connections: id -> (worker, waiter).
        self._calls: dict[int, tuple[str, asyncio.Future[Any] | asyncio.Queue[Any]]] = {}
        #: Streams we serve for other workers: id -> (task, stop, credit).
        self._serving: dict[int, tuple[asyncio.Task[Any], asyncio.Event, asyncio.Semaphore]] = {}
        self._up = False
        self._closing = False
        self._dirty = asyncio.Event()

    # -- names ------------------------------------------------------------------------

    @property
    def redis(self) -> Redis:
        """The Redis client: for an application's own data beside the backplane's keys."""
        return self._redis

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("the backplane is not bound to a hub")
        return self._hub

    def _topic_channel(self, topic: str) -> bytes:
        return f"{self.namespace}:topic:{topic}".encode()

    def _worker_channel(self, worker_id: str) -> bytes:
        return f"{self.namespace}:worker:{worker_id}".encode()

    @property
    def _workers_key(self) -> str:
        return f"{self.namespace}:workers"

    def _conns_key(self, worker_id: str) -> str:
        return f"{self.namespace}:conns:{worker_id}"

    # -- life -------------------------------------------------------------------------

    def bind(self, hub: Hub, /) -> None:
        self._hub = hub

    async def open(self) -> None:
        """Connect to Redis, subscribe to this worker's channel and announce it.

        Raises:
            BackplaneUnavailable: Redis cannot be reached.
        """
        self._closing = False
        try:
            await self._connect()
        except (RedisError, OSError, BackplaneUnavailable) as exc:
            await self._drop_pubsub()
            raise BackplaneUnavailable(f"Redis at {self.url} cannot be reached: {exc}") from exc
        self._reader = asyncio.create_task(self._read())
        self._beat = asyncio.create_task(self._heartbeat())

    async def _connect(self) -> None:
        self._pubsub = self._redis.pubsub()
        channels = [self._worker_channel(self.hub.worker_id)]
        channels += [self._topic_channel(topic) for topic in self.hub.topics()]
        await self._pubsub.subscribe(*channels)
        # The confirmations come first on the connection: read them before anything else.
        pending = set(channels)
        while pending:
            message = await self._pubsub.get_message(timeout=self.ttl)
            if message is None:
                raise BackplaneUnavailable("Redis did not confirm the subscriptions")
            if message["type"] == "subscribe":
                pending.discard(message["channel"])
        await self._write_presence()
        self._up = True

    async def close(self) -> None:
        """Leave the deployment: unsubscribe, remove this worker's presence, disconnect."""
        self._closing = True
        await asyncio.gather(*(_stop(t) for t in (self._reader, self._beat, *self._tasks) if t))
        self._reader = self._beat = None
        self._fail_calls(ConnectionClosed("the server is shutting down", 1001))
        if self._up:
            with contextlib.suppress(RedisError, OSError):
                worker = self.hub.worker_id
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.zrem(self._workers_key, worker)
                    pipe.delete(self._conns_key(worker))
                    await pipe.execute()
        self._up = False
        await self._drop_pubsub()
        if self._own_client:
            await self._redis.aclose()

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the reader: everything that arrives -------------------------------------------

    async def _read(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                assert self._pubsub is not None
                message = await self._pubsub.get_message(timeout=None)
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, BackplaneUnavailable) as exc:
                await self._lost(exc)
                while True:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.heartbeat)
                    try:
                        await self._drop_pubsub()
                        await self._connect()
                    except (RedisError, OSError, BackplaneUnavailable):
                        continue
                    break
                logger.info("backplane restored: Redis at %s answers again", self.url)
                self.hub.emit("backplane", "restored", None)
                continue
            if message is None or message["type"] not in ("message", "subscribe"):
                continue
            channel: bytes = message["channel"]
            if message["type"] == "subscribe":
                waiter = self._subscribed.pop(channel, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            try:
                self._received(channel, orjson.loads(message["data"]))
            except Exception:  # a malformed message must not stop the reader
                logger.exception("backplane: cannot handle a message on %r", channel)

    async def _lost(self, exc: BaseException) -> None:
        if self._up:
            self._up = False
            logger.warning("backplane lost: Redis at %s: %s", self.url, exc)
            self.hub.emit("backplane", "lost", exc)
        self._fail_calls(BackplaneUnavailable(f"Redis at {self.url} cannot be reached"))
        for waiter in self._subscribed.values():
            if not waiter.done():
                waiter.set_exception(BackplaneUnavailable("Redis went away while subscribing"))
        self._subscribed.clear()

    def _received(self, channel: bytes, data: dict[str, Any]) -> None:
        kind = data["k"]
        if kind == "pub":
            topic = channel.decode()[len(self.namespace) + len(":topic:") :]
            event = Notification(data["m"], data["p"])
            self._spawn(self.hub.deliver_topic(topic, event, data.get("s")))
        elif kind in ("call", "notify", "stream"):
            self._spawn(self._serve(data))
        elif kind == "credit":
            serving = self._serving.get(data["id"])
            if serving is not None:
                for _ in range(data["n"]):
                    serving[2].release()
        elif kind == "cancel":
            serving = self._serving.get(data["id"])
            if serving is not None:
                task, stop, credit = serving
                stop.set()
                credit.release()  # wakes it if it waits for credit
                # And cancels it if it waits for an item. (Not the only way: redis-py may
                # swallow a cancellation that arrives during a command.)
                task.cancel()
        else:  # a reply, a stream item or a stream's end, for one of our calls
            entry = self._calls.get(data["id"])
            if entry is None:
                return  # given up meanwhile
            waiter = entry[1]
            if isinstance(waiter, asyncio.Queue):
                waiter.put_nowait(data)
            elif not waiter.done():
                waiter.set_result(data)

    # -- serving calls from other workers ---------------------------------------------

    async def _serve(self, data: dict[str, Any]) -> None:
        reply_to = self._worker_channel(data["from"]) if "from" in data else None
        conn = self.hub.connection(data["to"])
        if conn is None or conn.closed:
            if reply_to is not None:
                await self._send(reply_to, {"k": "reply", "id": data["id"], "x": "nosuch"})
            return
        if data["k"] == "notify":
            with contextlib.suppress(ConnectionClosed):
                await conn.notify(data["m"], data["p"])
            return
        assert reply_to is not None
        if data["k"] == "stream":
            await self._serve_stream(conn, data, reply_to)
            return
        reply: dict[str, Any] = {"k": "reply", "id": data["id"]}
        try:
            reply["r"] = await conn.call(data["m"], data["p"], timeout=data["t"])
        except RpcError as exc:
            reply["e"] = {"code": exc.code, "message": exc.message, "data": exc.data}
        except ConnectionClosed as exc:
            reply["x"] = "closed"
            reply["c"] = [exc.code, exc.reason]
        except CallTimeout:
            reply["x"] = "timeout"
        await self._reply(reply_to, reply)

    async def _serve_stream(self, conn: Connection, data: dict[str, Any], reply_to: bytes) -> None:
        call_id = data["id"]
        stop = asyncio.Event()
        credit = asyncio.Semaphore(data["w"])
        task = asyncio.current_task()
        assert task is not None
        self._serving[call_id] = (task, stop, credit)
        end: dict[str, Any] = {"k": "end", "id": call_id}
        try:
            # Closed here, not when collected: closing it cancels the stream at the client.
            async with contextlib.aclosing(conn.stream(data["m"], data["p"])) as items:
                async for item in items:
                    await credit.acquire()
                    if stop.is_set():
                        return  # the caller gave up
                    item_message = {"k": "item", "id": call_id, "v": item}
                    if not await self._reply(reply_to, item_message):
                        return
        except asyncio.CancelledError:
            return  # the caller gave up while the client produced nothing
        except RpcError as exc:
            end["e"] = {"code": exc.code, "message": exc.message, "data": exc.data}
        except ConnectionClosed as exc:
            end["x"] = "closed"
            end["c"] = [exc.code, exc.reason]
        finally:
            self._serving.pop(call_id, None)
        await self._reply(reply_to, end)

    async def _reply(self, channel: bytes, data: dict[str, Any]) -> bool:
        """Send a reply or stream item; one too large goes as ResponseTooLarge (False)."""
        try:
            await self._send(channel, data)
            return True
        except ValueError as exc:
            error = ResponseTooLarge(str(exc))
            refusal = {"code": error.code, "message": error.message, "data": None}
            await self._send(channel, {"k": "end", "id": data["id"], "e": refusal})
            return False

    async def _send(self, channel: bytes, data: dict[str, Any]) -> int:
        payload = _dumps(data)
        if len(payload) > self.max_message_size:
            raise ValueError(
                f"{len(payload)} bytes for the backplane: more than its max_message_size "
                f"({self.max_message_size})"
            )
        try:
            heard: int = await self._redis.publish(channel, payload)
        except (RedisError, OSError) as exc:
            raise BackplaneUnavailable(f"Redis at {self.url} cannot be reached: {exc}") from exc
        return heard

    # -- what the hub asks for ----------------------------------------------------------

    async def broadcast(self, event: Notification, where: Where | None, timeout: float) -> int:
        return await self.hub.deliver(event, where, timeout)

    async def publish(self, topic: str, event: Notification, skip: str | None) -> None:
        message = {"k": "pub", "m": event.method, "p": event.params, "s": skip}
        await self._send(self._topic_channel(topic), message)

    async def joined(self, topic: str) -> None:
        if self._pubsub is None or not self._up:
            raise BackplaneUnavailable(f"Redis at {self.url} cannot be reached")
        channel = self._topic_channel(topic)
        waiter = asyncio.get_running_loop().create_future()
        self._subscribed[channel] = waiter
        try:
            await self._pubsub.subscribe(channel)
            async with asyncio.timeout(self.ttl):
                await waiter
        except (RedisError, OSError, TimeoutError) as exc:
            raise BackplaneUnavailable(f"cannot subscribe to {topic!r}: {exc}") from exc
        finally:
            self._subscribed.pop(channel, None)

    async def left(self, topic: str) -> None:
        if self._pubsub is not None and self._up:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(self._topic_channel(topic))

    def connected(self, conn: Connection, /) -> None:
        self._dirty.set()

    def disconnected(self, conn: Connection, /) -> None:
        self._dirty.set()

    def peer(self, connection_id: str, /) -> RemotePeer:
        return RemotePeer(self, connection_id)

    async def presence(self, topic: str | None, /) -> list[Present]:
        try:
            now = time.time()
            workers: list[Any] = await self._redis.zrangebyscore(self._workers_key, now, "+inf")
            async with self._redis.pipeline(transaction=False) as pipe:
                for worker in workers:
                    pipe.hgetall(self._conns_key(worker.decode()))
                tables = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackplaneUnavailable(f"Redis at {self.url} cannot be reached: {exc}") from exc
        found = []
        for table in tables:
            for cid, raw in table.items():
                entry = orjson.loads(raw)
                topics = frozenset(entry["topics"])
                if topic is None or topic in topics:
                    found.append(Present(cid.decode(), entry["identity"], topics))
        return sorted(found, key=lambda p: p.connection_id)

    # -- presence -----------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while not self._closing:
            with contextlib.suppress(asyncio.TimeoutError):
                async with asyncio.timeout(self.heartbeat):
                    await self._dirty.wait()  # a change: write it now, not at the next beat
                await asyncio.sleep(0.02)  # and gather the changes of a burst
            if not self._up:
                continue
            try:
                await self._write_presence()
                await self._forget_gone_workers()
            except (RedisError, OSError) as exc:
                logger.debug("backplane: heartbeat failed: %s", exc)

    async def _write_presence(self) -> None:
        self._dirty.clear()
        hub = self.hub
        worker = hub.worker_id
        table = {
            conn.id: _dumps({"identity": jsonable(conn.identity), "topics": sorted(conn.topics)})
            for conn in hub.connections
            if not conn.closed
        }
        key = self._conns_key(worker)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if table:
                pipe.hset(key, mapping=table)  # type: ignore[arg-type]
            pipe.pexpire(key, int(self.ttl * 1000))
            pipe.zadd(self._workers_key, {worker: time.time() + self.ttl})
            await pipe.execute()

    async def _forget_gone_workers(self) -> None:
        """Fail our calls that wait on workers whose heartbeat expired."""
        live: list[Any] = await self._redis.zrangebyscore(self._workers_key, time.time(), "+inf")
        alive = {worker.decode() for worker in live}
        await self._redis.zremrangebyscore(self._workers_key, "-inf", time.time() - self.ttl)
        for call_id, (worker, waiter) in list(self._calls.items()):
            if worker not in alive:
                gone = {"k": "reply", "id": call_id, "x": "closed", "c": [1006, "worker gone"]}
                if isinstance(waiter, asyncio.Queue):
                    waiter.put_nowait(gone)
                elif not waiter.done():
                    waiter.set_result(gone)

    def _fail_calls(self, exc: Exception) -> None:
        for _, waiter in self._calls.values():
            if isinstance(waiter, asyncio.Queue):
                waiter.put_nowait(exc)
            elif not waiter.done():
                waiter.set_exception(exc)

    # -- calls to other workers' connections -----------------------------------------

    async def call(
        self, connection_id: str, method: str, params: Params, timeout: float | None
    ) -> Any:
        """Call ``method`` on connection ``connection_id`` of another worker (see RemotePeer)."""
        worker = _worker_of(connection_id)
        call_id = next(self._ids)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = (worker, waiter)
        message = {
            "k": "call",
            "id": call_id,
            "from": self.hub.worker_id,
            "to": connection_id,
            "m": method,
            "p": wire_params(params),
            "t": timeout,
        }
        try:
            await self._request(worker, connection_id, message)
            try:
                # The target worker times the call out; this one waits a little longer.
                async with asyncio.timeout(None if timeout is None else timeout + 1.0):
                    reply = await waiter
            except TimeoutError:
                raise CallTimeout(f"no reply from {connection_id} within {timeout} s") from None
        finally:
            del self._calls[call_id]
        return _outcome(connection_id, reply)

    async def notify(self, connection_id: str, method: str, params: Params) -> None:
        """Send a notification to connection ``connection_id`` of another worker."""
        message = {"k": "notify", "to": connection_id, "m": method, "p": wire_params(params)}
        await self._request(_worker_of(connection_id), connection_id, message)

    async def stream(
        self, connection_id: str, method: str, params: Params, window: int = 16
    ) -> AsyncGenerator[Any, None]:
        """Iterate over a stream of connection ``connection_id`` of another worker."""
        worker = _worker_of(connection_id)
        call_id = next(self._ids)
        items: asyncio.Queue[Any] = asyncio.Queue()
        self._calls[call_id] = (worker, items)
        me = self.hub.worker_id
        message = {
            "k": "stream",
            "id": call_id,
            "from": me,
            "to": connection_id,
            "m": method,
            "p": wire_params(params),
            "w": window,
        }
        finished = False
        try:
            await self._request(worker, connection_id, message)
            taken = 0
            while True:
                data = await items.get()
                if isinstance(data, Exception):
                    raise data
                if data["k"] != "item":
                    finished = True
                    if "e" in data or "x" in data:
                        _outcome(connection_id, data)
                    return
                yield data["v"]
                taken += 1
                if taken >= max(1, window // 2):  # give credit back in halves of the window
                    await self._send(
                        self._worker_channel(worker), {"k": "credit", "id": call_id, "n": taken}
                    )
                    taken = 0
        finally:
            del self._calls[call_id]
            if not finished:
                with contextlib.suppress(BackplaneUnavailable):
                    await self._send(self._worker_channel(worker), {"k": "cancel", "id": call_id})

    async def _request(self, worker: str, connection_id: str, message: dict[str, Any]) -> None:
        if not self._up:
            raise BackplaneUnavailable(f"Redis at {self.url} cannot be reached")
        if not await self._send(self._worker_channel(worker), message):
            raise NoSuchPeer(connection_id)  # no worker listens on that channel


class RemotePeer:
    """A connection on another worker, reached through the :class:`RedisBackplane`.

    It has the calls of a :class:`~wsrpc_typed.Connection`, so a generated peer
    stub wraps it. Results and error replies come back as the peer sent them
    (declared errors as their classes through the stub); the deadline goes with
    the call. A connection that no worker has raises
    :class:`~wsrpc_typed.NoSuchPeer`, one that ends during the call
    :class:`~wsrpc_typed.ConnectionClosed`.
    """

    __slots__ = ("_backplane", "id")

    def __init__(self, backplane: RedisBackplane, connection_id: str) -> None:
        self._backplane = backplane
        self.id = connection_id

    async def call(
        self, method: str, params: Params = None, *, timeout: float | None = _UNSET
    ) -> Any:
        """Call ``method`` on that client (``timeout``: the backplane's ``call_timeout``)."""
        if timeout is _UNSET:
            timeout = self._backplane.call_timeout
        return await self._backplane.call(self.id, method, params, timeout)

    def stream(self, method: str, params: Params = None) -> AsyncGenerator[Any, None]:
        """Iterate over that client's stream ``method``; breaking off cancels it there."""
        return self._backplane.stream(self.id, method, params)

    async def notify(self, method: str, params: Params = None) -> None:
        """Send that client a notification."""
        await self._backplane.notify(self.id, method, params)

    def __repr__(self) -> str:
        return f"RemotePeer({self.id!r})"


async def _stop(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for its end, cancelling again if a cancellation was swallowed.

    redis-py can swallow a cancellation that arrives while a command waits for its reply.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    if not task.cancelled():
        task.exception()  # retrieved: failures were logged where they happened


def _worker_of(connection_id: str) -> str:
    worker, dot, _ = connection_id.rpartition(".")
    if not dot or not worker:
        raise NoSuchPeer(connection_id)
    return worker


def _outcome(connection_id: str, reply: dict[str, Any]) -> Any:
    """The result a reply carries, or the error it stands for, raised."""
    if "r" in reply:
        return reply["r"]
    if "e" in reply:
        error = reply["e"]
        code = error["code"]
        raise error_class_for_code(code)(error["message"], error["data"], code=code)
    kind = reply["x"]
    if kind == "nosuch":
        raise NoSuchPeer(connection_id)
    if kind == "timeout":
        raise CallTimeout(f"{connection_id} did not answer in time")
    code, reason = reply["c"]
    raise ConnectionClosed(f"connection {connection_id} closed: {reason or code}", code, reason)
