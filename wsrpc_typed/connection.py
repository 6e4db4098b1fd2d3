"""A connection: one protocol object, one transport, calls in both directions.

:class:`Connection` is the asyncio driver of an
:class:`~wsrpc_typed.protocol.RpcProtocol` over a
:class:`~wsrpc_typed.transport.Transport`: the transport pushes each message
it receives (:meth:`Connection.message_received`), the protocol turns it into
an event, and the driver acts on it: it settles the future of one of our
calls, or hands the peer's call to its
:class:`~wsrpc_typed.serving.Dispatcher`. Then it writes what the protocol
queued.

Rules of this module:

* At most ``max_in_flight`` handler tasks run per connection; at the cap the
  driver pauses the transport's reading (backpressure reaches the peer through
  TCP) and keeps, in order, what was read already; it goes on when a handler
  finishes. Replies, cancellations and credits that arrive while no call
  waits for a slot are handled at once.
* Our calls' deadlines share one timer, set for the earliest of them.
* At most ``max_calls_out`` of our calls are on the wire at once; more wait
  their turn here (:class:`~wsrpc_typed.limits.CallWindow`), not at the peer.
* A caller that gives up (cancelled) tells the peer (``rpc.cancel``) on
  dialects that can; a call is never re-sent.
* When the connection ends, every pending call fails with ConnectionClosed,
  and then every running handler is cancelled.
* Nothing a peer sends can stop the connection: a failure while handling a
  message is logged and reported, and the next message is handled.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import math
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .calling import DEFAULT, Params, adapter_for, result_of, wire_params
from .dialects.events import (
    Batch,
    ErrorResponse,
    Malformed,
    Notification,
    Outgoing,
    Request,
    Response,
)
from .errors import CallTimeout, ConnectionClosed, error_class_for_code
from .interceptors import Interceptor
from .limits import CallBudget, CallWindow
from .message import SeedHandler
from .protocol import (
    NO_REPLY,
    AckWait,
    CancelReceived,
    CreditReceived,
    ItemReceived,
    PendingCall,
    RpcProtocol,
    ServedCall,
)
from .security import scopes_of
from .serving import Dispatcher

if TYPE_CHECKING:
    from .dialects.events import Dialect
    from .hub import Hub
    from .registry import Methods
    from .transport import Transport

__all__ = ["Connection", "SeedHandler"]

logger = logging.getLogger("wsrpc_typed")

T = TypeVar("T")
ErrorCallback = Callable[[BaseException], None]


class Connection:
    """One RPC connection over a transport (server or client side).

    Either side can call the other: :meth:`call`, :meth:`stream` and
    :meth:`notify` send requests, and incoming requests are served from
    ``router`` and from handlers added with :meth:`on`.

    Attributes:
        id: This connection's id, unique in the process (the server's hub
            makes it unique across workers).
        state: Per-connection state for the application's use.
        identity: Who the peer is (from the server's ``authenticate`` hook).
        ack_timeout: How long ``message.reply()`` waits for a v2 acknowledgement.
    """

    __slots__ = (
        "__weakref__",
        "_backlog",
        "_batches",
        "_blocked",
        "_budget",
        "_closed",
        "_dispatcher",
        "_done",
        "_finisher",
        "_flush_text",
        "_loop",
        "_protocol",
        "_send",
        "_slot_free",
        "_spoken",
        "_tasks",
        "_timeout",
        "_timer",
        "_timer_at",
        "_window",
        "ack_timeout",
        "hub",
        "id",
        "identity",
        "state",
        "topics",
        "transport",
    )

    def __init__(
        self,
        transport: Transport,
        dialect: Dialect,
        router: Methods | None = None,
        *,
        timeout: float | None = 30.0,
        ack_timeout: float = 30.0,
        max_in_flight: int = 64,
        max_batch: int = 100,
        max_reply_size: int | None = 4 * 2**20,
        on_error: ErrorCallback | None = None,
        identity: Any = None,
        interceptors: Sequence[Interceptor] = (),
        budget: CallBudget | None = None,
        max_calls_out: int | None = None,
        id: str = "",
    ) -> None:
        self.transport = transport
        self._send = transport.send
        self._protocol = RpcProtocol(
            dialect,
            max_in_flight=max_in_flight,
            max_batch=max_batch,
            max_reply_size=max_reply_size,
        )
        self.id = id
        self.hub: Hub | None = None
        """The server's hub that accepted this connection (``None`` on the client side)."""
        self.topics: set[str] = set()
        """The topics this connection has joined (see :meth:`join`)."""
        self.state: dict[str, Any] = {}
        self.identity = identity
        """Who the peer is, as the server's ``authenticate`` hook said (``None``: anonymous)."""
        self.ack_timeout = ack_timeout
        self._timeout = timeout
        self._budget = budget
        self._tasks: set[asyncio.Task[Any]] = set()
        self._batches: set[asyncio.Task[None]] = set()
        #: What was read while paused, in order: messages, and first the work that waits.
        self._backlog: collections.deque[Any] | None = None
        self._blocked: asyncio.Future[None] | None = None
        self._slot_free: asyncio.Event | None = None
        self._spoken: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        #: Our calls on the wire at once; the others wait their turn here, not at the peer.
        self._window = None if max_calls_out is None else CallWindow(max_calls_out)
        self._closed: ConnectionClosed | None = None
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._finisher: asyncio.Future[None] | None = None
        self._dispatcher = Dispatcher(
            self,
            self._protocol,
            router,
            interceptors=tuple(interceptors),
            scopes=scopes_of(identity),
            budget=budget,
            on_error=on_error,
        )

    # -- facts ----------------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        """The wire dialect of this connection."""
        return self._protocol.dialect

    def now(self) -> float:
        """The event loop's clock, on which deadlines are given."""
        return self._loop.time()

    @property
    def protocol(self) -> RpcProtocol:
        """The sans-I/O call state of this connection (read it; do not drive it)."""
        return self._protocol

    @property
    def request_headers(self) -> Mapping[str, str]:
        """Headers of the opening handshake request."""
        return self.transport.request_headers

    @property
    def remote_address(self) -> Any:
        """The peer's address."""
        return self.transport.remote_address

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._closed is not None

    @property
    def ended(self) -> ConnectionClosed | None:
        """How the connection ended (``code`` and ``reason``), or ``None`` while it is open."""
        return self._closed

    @property
    def in_flight(self) -> int:
        """Handler tasks running now on this connection."""
        return len(self._tasks)

    # -- the transport's side -------------------------------------------------------

    def start(self) -> None:
        """Start reading: from now on, the transport delivers messages here."""
        self.transport.start(self)

    def message_received(self, message: bytes | str, /) -> None:
        """Handle one message from the peer (the transport calls this)."""
        if self._backlog is not None:
            self._backlog.append(message)  # behind calls waiting for a handler slot
            return
        self._handle(message)

    def _handle(self, message: bytes | str) -> None:
        protocol = self._protocol
        try:
            event: Any = protocol.receive(message)
            if self._spoken is not None:
                self._spoken.set()
            self._dispatch(event)
        except Exception as exc:  # a bug of ours must not end the connection
            logger.exception("error while handling a frame")
            self._dispatcher.report(exc)
        written = self.flush()
        if written is not None and not written.done():
            self._pause(written)

    def _dispatch(self, event: Any) -> None:
        kind = type(event)
        if kind is Request or kind is Notification or kind is Batch:
            if self._protocol.busy:
                # Only work waits for a handler slot, and it stops the reading: the
                # cancellations, credits and replies before it have got through.
                self._pause(None)
                assert self._backlog is not None
                self._backlog.appendleft(event)
            elif kind is Batch:
                batch = asyncio.ensure_future(self._dispatcher.serve_batch(event))
                self._batches.add(batch)
                batch.add_done_callback(self._batch_done)
            else:
                self._dispatcher.serve(event)
        elif kind is PendingCall:
            self.settled(event)
        elif event is None:
            pass
        elif kind is ItemReceived:
            event.call.waiter.set()
        elif kind is CancelReceived:
            event.served.token.cancel()
        elif kind is CreditReceived:
            if event.served.waker is not None:
                event.served.waker.set()
        elif kind is AckWait:
            waiter = event.waiter
            if not waiter.done():
                waiter.set_result(event.values)
        elif kind is Malformed:
            logger.info("malformed frame from %s: %s", self.remote_address, event.reason)

    def _pause(self, written: asyncio.Future[None] | None) -> None:
        """Read no more while work waits for a handler slot or the peer takes no replies."""
        if self._backlog is None:
            self._backlog = collections.deque()
            self.transport.pause_reading()
        if written is not None and not written.done() and self._blocked is None:
            self._blocked = written
            written.add_done_callback(self._unblock)

    def _unblock(self, written: asyncio.Future[None]) -> None:
        if not written.cancelled():
            written.exception()  # retrieved: a closed connection ends in connection_lost
        self._blocked = None
        self._resume()

    def _resume(self) -> None:
        """Handle what was read while paused, in order, then read again."""
        backlog = self._backlog
        if backlog is None or self._closed is not None:
            return
        protocol = self._protocol
        while backlog and self._blocked is None:
            item = backlog[0]
            if isinstance(item, (str, bytes)):
                backlog.popleft()
                self._handle(item)
            elif protocol.busy:
                return  # work still waits for a slot
            else:
                backlog.popleft()
                self._dispatch(item)
                written = self.flush()
                if written is not None and not written.done():
                    self._pause(written)
        if not backlog and self._blocked is None and self._backlog is backlog:
            self._backlog = None
            self.transport.resume_reading()

    def connection_lost(self, exc: ConnectionClosed, /) -> None:
        """The connection ended: fail what waits on it, cancel its handlers."""
        if self._closed is not None:
            return
        self._closed = exc
        self._backlog = None
        calls, acks, _ = self._protocol.connection_lost()
        message = str(exc)
        for call in calls:
            waiter = call.waiter
            if call.items is not None:
                waiter.set()  # a stream's consumer sees the connection closed
            elif not waiter.done():
                waiter.set_exception(ConnectionClosed(message, exc.code, exc.reason))
        for wait in acks:
            if not wait.waiter.done():
                wait.waiter.set_exception(ConnectionClosed(message, exc.code, exc.reason))
        if self._timer is not None:
            self._timer.cancel()
        if self._spoken is not None:
            self._spoken.set()  # wake callers waiting for a first frame that never came
        tasks: list[asyncio.Task[Any]] = [*self._tasks, *self._batches]
        for task in tasks:
            # Cancelled after the failures above reach their waiters: a handler waiting for
            # an acknowledgement or for its own call to the peer sees ConnectionClosed first.
            self._loop.call_soon(task.cancel)

        async def finish() -> None:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if not self._done.done():
                self._done.set_result(None)

        self._finisher = asyncio.ensure_future(finish())

    def flush(self) -> asyncio.Future[None] | None:
        """Write every frame the protocol queued; return what the last write returned.

        A closed transport is not an error here: the connection's end follows.
        """
        frames = self._protocol.data_to_send()
        if not frames:
            return None
        text = self._protocol.dialect.text
        send = self._send
        try:
            for frame in frames:
                written = send(frame, text=text)
        except ConnectionClosed:
            return None
        return written

    def report(self, exc: BaseException) -> None:
        """Tell the server's ``error`` listeners about an unexpected failure."""
        self._dispatcher.report(exc)

    # -- handler tasks --------------------------------------------------------------

    def spawn(
        self,
        coro: Coroutine[Any, Any, T],
        id_: Any = NO_REPLY,
        method: str = "",
        credit: int | None = None,
    ) -> tuple[asyncio.Task[T], ServedCall]:
        """Run a handler for the peer's call ``id_`` in its own task (one handler slot)."""
        task = asyncio.ensure_future(coro)
        served = self._protocol.begin(id_, method, task, credit)
        self._tasks.add(task)
        if self._budget is not None:
            self._budget.used += 1
        task.add_done_callback(functools.partial(self._task_done, served))
        return task, served

    def _task_done(self, served: ServedCall, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        protocol = self._protocol
        protocol.end(served)
        if self._budget is not None:
            self._budget.used -= 1
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            logger.error("connection task failed", exc_info=(type(exc), exc, exc.__traceback__))
            self._dispatcher.report(exc)
        if not protocol.busy:
            if self._slot_free is not None:
                self._slot_free.set()
            if self._backlog is not None:
                self._resume()

    async def wait_for_slot(self) -> None:
        """Wait until a handler slot is free (a batch's items take slots one by one)."""
        while self._protocol.busy:
            if self._closed is not None:
                raise self._closed
            if self._slot_free is None:
                self._slot_free = asyncio.Event()
            self._slot_free.clear()
            await self._slot_free.wait()

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            logger.error("batch task failed", exc_info=(type(exc), exc, exc.__traceback__))
            self._dispatcher.report(exc)

    # -- sending --------------------------------------------------------------------

    async def send_event(self, event: Outgoing) -> None:
        """Encode and send one event; a closed connection is not an error here."""
        with contextlib.suppress(ConnectionClosed):
            await self._send(self._protocol.encode(event), text=self._protocol.dialect.text)

    async def send_frame(self, frame: bytes) -> None:
        """Send an encoded frame as this dialect sends them.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        if self._closed is not None:
            raise ConnectionClosed(str(self._closed), self._closed.code, self._closed.reason)
        await self._send(frame, text=self._protocol.dialect.text)

    async def send_reply(self, reply: Response | ErrorResponse) -> None:
        """Send the reply to one of the peer's requests (within ``max_reply_size``).

        Raises:
            ConnectionClosed: the connection is closed.
        """
        if self._closed is not None:
            raise ConnectionClosed(str(self._closed), self._closed.code, self._closed.reason)
        self._dispatcher.send_reply(reply)
        written = self.flush()
        if written is not None:
            await written

    def expect_ack(self, id_: Any) -> AckWait:
        """Wait for the peer to acknowledge the reply with ``id_``; await ``wait.waiter``."""
        if self._closed is not None:
            raise self._closed
        return self._protocol.expect_ack(id_, self._loop.create_future())

    def forget_ack(self, wait: AckWait) -> None:
        """Stop waiting for the acknowledgement ``wait``."""
        self._protocol.forget_ack(wait)

    # -- our calls ------------------------------------------------------------------

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
        """Call ``method`` on the peer and return its result.

        Args:
            method: The method name.
            params: Named params (a dict, or a pydantic model) or positional params (a list).
            result_type: Validate the result as this type and return it typed.
            timeout: Seconds to wait for the reply (default: the connection's;
                ``None`` waits forever). On JSON-RPC it travels with the request,
                and the peer cancels the handler when it expires. Zero or less
                fails at once, without sending anything.

        Raises:
            RpcError: the peer answered with an error (the matching subclass for
                standard codes).
            CallTimeout: no reply in time.
            ConnectionClosed: the connection ended before the reply arrived.
            pydantic.ValidationError: the result does not match ``result_type``.

        Cancelling the task that awaits the call sends a cancel notification
        (JSON-RPC), so the peer stops the handler.
        """
        return result_of(await self.request(method, params, timeout=timeout), result_type)

    async def request(
        self,
        method: str,
        params: Params = None,
        *,
        timeout: float | None = DEFAULT,
    ) -> tuple[Any, ...]:
        """Call ``method`` and return every reply value (seed dialects may send several)."""
        if timeout is DEFAULT:
            timeout = self._timeout
        if timeout is not None and timeout <= 0:
            raise CallTimeout(f"the deadline of {method!r} had passed before it was sent")
        protocol = self._protocol
        if self._closed is not None or not protocol.known:
            await self._ready(timeout)
        loop = self._loop
        window = self._window
        if window is not None and not window.take():
            waited_from = loop.time()
            try:
                async with asyncio.timeout(timeout):
                    await window.wait()
            except TimeoutError:
                raise CallTimeout(f"no reply to {method!r} within {timeout} s") from None
            if timeout is not None:
                timeout -= loop.time() - waited_from
        future: asyncio.Future[tuple[Any, ...]] = loop.create_future()
        try:
            call = protocol.send_request(
                method, wire_params(params), future, timeout=timeout, now=loop.time()
            )
        except BaseException:
            if window is not None:
                window.release()
            raise
        if call.deadline is not None and call.deadline < self._timer_at:
            self._arm(call.deadline)
        try:
            written = self.flush()
            if self._closed is not None:
                raise ConnectionClosed(str(self._closed), self._closed.code, self._closed.reason)
            if written is not None:
                await written
            return await future
        finally:
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: when sending failed, our caller has that error
            # A caller that gave up tells the peer, and only then frees its slot, so the
            # next call goes out after the cancellation.
            protocol.forget(call, cancel=future.cancelled())
            self.flush()
            if window is not None:
                window.release()

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
        """Call a streaming method; iterate over its items as they arrive.

        ``async for item in conn.stream("ticks", {"n": 3}, item_type=Tick)``.
        The server produces at most ``window`` items ahead of the consumer.
        Leaving the loop early (``break``, an exception, cancellation) sends a
        cancel notification; the server stops the handler.

        Raises:
            RpcError: the handler failed (the items before the failure were delivered).
            CallTimeout: the whole stream did not finish within ``timeout``.
            ConnectionClosed: the connection ended before the stream did.
            TypeError: the connection's dialect has no streams (seed dialects).
        """
        protocol = self._protocol
        if not protocol.dialect.extensions:
            raise TypeError(f"streams need the JSON-RPC dialect, not {protocol.dialect.name}")
        if window < 1:
            raise ValueError("window must be at least 1")
        if timeout is not None and timeout <= 0:
            raise CallTimeout(f"the deadline of {method!r} had passed before it was sent")
        await self._ready(timeout)
        adapter = None if item_type is None else adapter_for(item_type)
        changed = asyncio.Event()
        call = protocol.send_request(
            method,
            wire_params(params),
            changed,
            timeout=timeout,
            now=self._loop.time(),
            window=window,
        )
        if call.deadline is not None and call.deadline < self._timer_at:
            self._arm(call.deadline)
        items = call.items
        assert items is not None
        finished = False
        try:
            written = self.flush()
            if self._closed is not None:
                raise ConnectionClosed(str(self._closed), self._closed.code, self._closed.reason)
            if written is not None:
                await written
            while True:
                if items:
                    item = items.popleft()
                    yield item if adapter is None else adapter.validate_python(item)
                    protocol.consumed(call)
                    written = self.flush()
                    if written is not None:
                        await written
                elif call.reply is not None:
                    finished = True
                    result_of_reply(call)
                    return
                elif call.id not in protocol.pending:  # expired, or the connection ended
                    finished = True
                    if self._closed is not None:
                        closed = self._closed
                        raise ConnectionClosed(str(closed), closed.code, closed.reason)
                    raise CallTimeout(f"no reply to {method!r} within {timeout} s")
                else:
                    changed.clear()
                    await changed.wait()
        finally:
            protocol.forget(call, cancel=not finished)
            self.flush()

    async def join(self, topic: str) -> None:
        """Join ``topic`` on the server: get what ``server.publish(topic, ...)`` sends there.

        Resolves once every worker's publications to ``topic`` reach this
        connection. A connection leaves its topics when it ends.

        Raises:
            RuntimeError: this is a client-side connection (topics are the server's).
        """
        await self._server_hub().join(self, topic)

    async def leave(self, topic: str) -> None:
        """Leave ``topic`` (nothing happens if this connection is not a member)."""
        await self._server_hub().leave(self, topic)

    def _server_hub(self) -> Hub:
        if self.hub is None:
            raise RuntimeError("topics belong to the server: this connection has no hub")
        return self.hub

    async def notify(self, method: str, params: Params = None) -> None:
        """Send a notification: a call that gets no reply (params may be a pydantic model)."""
        await self._ready(self._timeout)
        self._protocol.send_notification(method, wire_params(params))
        written = self.flush()
        if self._closed is not None:
            raise ConnectionClosed(str(self._closed), self._closed.code, self._closed.reason)
        if written is not None:
            await written

    async def _ready(self, timeout: float | None) -> None:
        """Fail if closed; wait until the dialect is known (a silent peer may be a seed client)."""
        if self._closed is not None:
            raise self._closed
        if not self._protocol.known:
            if self._spoken is None:
                self._spoken = asyncio.Event()
            try:
                async with asyncio.timeout(timeout):
                    await self._spoken.wait()
            except TimeoutError:
                raise CallTimeout(
                    "the peer has not sent a frame yet, so its dialect is unknown; "
                    "set the server's default_dialect to call peers that speak first"
                ) from None
            if self._closed is not None:
                raise self._closed

    def settled(self, call: PendingCall) -> None:
        """Hand the outcome of one of our calls to whoever waits for it."""
        waiter = call.waiter
        if call.items is not None:
            waiter.set()  # a stream's end: its consumer reads call.reply
            return
        if waiter.done():
            return
        reply = call.reply
        if type(reply) is ErrorResponse:
            cls = error_class_for_code(reply.code)
            waiter.set_exception(cls(reply.message, reply.data, code=reply.code))
        else:
            waiter.set_result(reply.values)  # type: ignore[union-attr]

    def _arm(self, deadline: float) -> None:
        # One timer per connection, set for the earliest deadline, instead of one per call.
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        # The loop may run a timer up to its clock resolution early.
        for call in self._protocol.expire(self._loop.time() + 0.001):
            waiter = call.waiter
            if call.items is not None:
                waiter.set()
            elif not waiter.done():
                waiter.set_exception(
                    CallTimeout(f"no reply to {call.method!r} within {call.timeout} s")
                )
        upcoming = self._protocol.next_deadline
        if upcoming != math.inf and self._closed is None:
            self._arm(upcoming)

    # -- seed API, lifecycle --------------------------------------------------------

    def on(self, method: str, handler: SeedHandler) -> None:
        """Handle ``method`` on this connection with a seed-style handler.

        The handler receives a :class:`~wsrpc_typed.Message` and answers with
        ``await message.reply(*values)``. These handlers take precedence over
        the router's methods and are not validated or typed.
        """
        self._dispatcher.handlers[method] = handler

    def drain(self) -> None:
        """Refuse new calls with :class:`ShuttingDown`; calls in flight go on."""
        self._dispatcher.draining = True

    async def wait_idle(self) -> None:
        """Wait until no handler task runs on this connection."""
        while self._tasks or self._batches:
            await asyncio.wait(self._tasks | self._batches)

    async def abandon_calls(self, timeout: float | None = None) -> None:
        """Cancel every running handler and answer its caller with :class:`ShuttingDown`.

        The answers get ``timeout`` seconds to go out: a peer that stopped reading
        gets none, and closing the connection drops it.
        """
        await self._dispatcher.abandon(self._protocol.served(), timeout)

    async def deliver(self, event: Notification, timeout: float) -> bool:
        """Send a notification within ``timeout``, or drop the peer; report whether it went out.

        Used by :meth:`Server.broadcast`. A peer that cannot take the message
        within ``timeout`` has stopped reading (its buffers are full): it is
        disconnected at once, without a closing handshake (which could not get
        through either), so it never holds up later messages to anyone.
        """
        if self._closed is not None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await self._send(self._protocol.encode(event), text=self._protocol.dialect.text)
            return True
        except ConnectionClosed:
            return False
        except TimeoutError:
            logger.warning("dropping %s: it stopped reading", self.remote_address)
            self.transport.abort()
            return False

    async def wait_closed(self) -> None:
        """Wait until the connection has ended and its handlers are cancelled."""
        await asyncio.shield(self._done)

    def add_done_callback(self, callback: Callable[[Connection], object]) -> None:
        """Call ``callback(connection)`` once it has ended and its handlers are cancelled."""
        self._done.add_done_callback(lambda _: callback(self))

    async def close(self, code: int = 1000, reason: str = "", timeout: float | None = None) -> None:
        """Close the connection and wait until it has ended.

        A closing handshake that takes more than ``timeout`` seconds (a peer that
        stopped reading cannot even be sent the close frame) drops the connection.
        """
        try:
            async with asyncio.timeout(timeout):
                await self.transport.close(code, reason)
        except TimeoutError:
            self.transport.abort()
        await self.wait_closed()


def result_of_reply(call: PendingCall) -> None:
    """Raise the error that ended a stream, if it ended with one."""
    reply = call.reply
    if type(reply) is ErrorResponse:
        raise error_class_for_code(reply.code)(reply.message, reply.data, code=reply.code)
