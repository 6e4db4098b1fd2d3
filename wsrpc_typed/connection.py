"""A connection: one transport, one dialect, calls in both directions.

Rules of this module:

* One reader loop per connection decodes frames and routes events: requests to
  handlers, replies to the calls waiting for them, acknowledgements to the
  replies waiting for them.
* Handlers that can suspend run in their own task, so a slow handler never
  blocks the connection; handlers that cannot suspend (``Method.inline``) run
  where the frame was read, which is what a task would do, minus its cost.
* At most ``max_in_flight`` handler tasks run per connection; at the cap the
  reader stops reading (backpressure reaches the peer through TCP) instead of
  buffering.
* When the connection ends, every pending call fails with ConnectionClosed and
  every running handler is cancelled.
* The connection is an error boundary: RpcError travels to the peer as is,
  any other handler exception becomes an opaque InternalError and is logged
  with its traceback; nothing a peer sends can stop the reader.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import math
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel, TypeAdapter

from .context import Context
from .dialects.detect import AutoDialect
from .dialects.events import (
    Acknowledge,
    Batch,
    Cancel,
    Credit,
    ErrorResponse,
    Malformed,
    Notification,
    Outgoing,
    Request,
    Response,
    StreamItem,
)
from .errors import (
    CallTimeout,
    ConnectionClosed,
    DeadlineExceeded,
    Forbidden,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ResponseTooLarge,
    RpcError,
    ServerBusy,
    ShuttingDown,
    error_class_for_code,
)
from .interceptors import Call, Interceptor, intercept
from .message import NO_REPLY, Message
from .security import scopes_of
from .streams import InStream, OutStream
from .transport import describe_close

if TYPE_CHECKING:
    from .dialects.events import Dialect
    from .registry import Method, Router
    from .transport import Transport

__all__ = ["CallBudget", "CallWindow", "Connection", "SeedHandler"]

logger = logging.getLogger("wsrpc_typed")

T = TypeVar("T")
#: A seed-style handler: gets the Message, answers with ``await message.reply(...)``.
SeedHandler = Callable[["Message"], Any]
ErrorCallback = Callable[[BaseException], None]
#: Params of a call: named (a dict or a pydantic model), positional (a list), or none.
Params = dict[str, Any] | list[Any] | BaseModel | None

_DEFAULT: Any = object()
#: Events that take a handler slot; the reader waits for one before dispatching them.
_WORK = (Request, Notification, Batch)
_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(tp: Any) -> TypeAdapter[Any]:
    adapter = _adapters.get(tp)
    if adapter is None:
        adapter = _adapters[tp] = TypeAdapter(tp)
    return adapter


def wire_params(params: Any) -> list[Any] | dict[str, Any] | None:
    """Params as they go on the wire: a pydantic model becomes its JSON-mode dict."""
    if params is None or type(params) is dict or type(params) is list:
        return params
    if isinstance(params, BaseModel):
        return params.model_dump(mode="json", by_alias=True)
    if isinstance(params, dict):
        return dict(params)
    if isinstance(params, list | tuple):
        return list(params)
    raise TypeError(
        f"params must be a dict, a list or a pydantic model, not {type(params).__name__}"
    )


def result_of(values: tuple[Any, ...], result_type: Any) -> Any:
    """The result of a call from its reply values, validated as ``result_type`` if given."""
    result = values[0] if len(values) == 1 else (list(values) if values else None)
    if result_type is None:
        return result
    return _adapter(result_type).validate_python(result)


def _key(id_: Any) -> Any:
    """A request id usable as a dict key (seed dialects allow any JSON value as an id)."""
    try:
        hash(id_)
    except TypeError:
        return None
    return id_


def _error_reply(exc: RpcError, id_: Any, method: str) -> ErrorResponse:
    return ErrorResponse(id_, exc.code, exc.message, exc.data, method)


class CallWindow:
    """A cap on our calls on the wire at once: a FIFO semaphore, cheap when not full.

    ``take()`` claims a place without awaiting when one is free and nobody waits;
    ``wait()`` queues for one. ``release()`` hands the place straight to the
    first waiter, so a newcomer never overtakes the queue.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def take(self) -> bool:
        """Claim a place if one is free now."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Wait for a place (after :meth:`take` failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release()  # handed a place, but leaving: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(future)
            raise

    def release(self) -> None:
        """Give a place back: to the first waiter, else to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class CallBudget:
    """Handler tasks in flight across every connection of a server, and their cap.

    Past the cap, new calls are answered at once with :class:`ServerBusy`
    instead of queueing (the per-connection cap stops reading instead).
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


class Connection:
    """One RPC connection over a transport (server or client side).

    Either side can call the other: :meth:`call` and :meth:`notify` send
    requests, and incoming requests are served from ``router`` and from
    handlers added with :meth:`on`.

    Attributes:
        state: Per-connection state for the application's use.
        dialect: The wire dialect of this connection.
        identity: Who the peer is (from the server's ``authenticate`` hook).
    """

    def __init__(
        self,
        transport: Transport,
        dialect: Dialect,
        router: Router | None = None,
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
    ) -> None:
        self.transport = transport
        self.dialect = dialect
        self._send = transport.send
        self._closed_errors: tuple[type[BaseException], ...] = (
            ConnectionClosed,
            *transport.closed_errors,
        )
        self.state: dict[str, Any] = {}
        self._router = router
        self._timeout = timeout
        self.ack_timeout = ack_timeout
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._max_reply_size = max_reply_size
        self._on_error = on_error
        self.identity = identity
        """Who the peer is, as the server's ``authenticate`` hook said (``None``: anonymous)."""
        self._scopes = scopes_of(identity)
        self._interceptors = tuple(interceptors)
        self._budget = budget
        self._draining = False
        self._handlers: dict[str, SeedHandler] = {}
        self._pending: dict[Any, asyncio.Future[tuple[Any, ...]]] = {}
        self._acks: dict[Any, asyncio.Future[tuple[Any, ...]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Handler tasks by request id (the peer may cancel them), with their method names.
        self._running: dict[Any, tuple[asyncio.Task[Any], str]] = {}
        self._background: set[asyncio.Task[None]] = set()
        #: Tasks that serve a batch: each waits for its items' handlers, which hold the
        #: connection's handler slots; the batch itself holds none.
        self._batches: set[asyncio.Task[None]] = set()
        self._in_streams: dict[Any, InStream] = {}
        self._out_streams: dict[Any, OutStream] = {}
        self._spoken = asyncio.Event()
        #: Whether the dialect is settled (false until an auto-detected peer's first frame).
        self._known = not isinstance(dialect, AutoDialect)
        self._deadlines: dict[Any, tuple[float, str, float]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_at = math.inf
        self._slot_free = asyncio.Event()
        #: Our calls on the wire at once; the others wait their turn here, not at the peer.
        self._window = None if max_calls_out is None else CallWindow(max_calls_out)
        self._ids = itertools.count(1)
        self._closed: ConnectionClosed | None = None
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._finisher: asyncio.Future[None] | None = None

    # -- facts ------------------------------------------------------------------

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
    def in_flight(self) -> int:
        """Handler tasks running now on this connection."""
        return len(self._tasks)

    async def wait_closed(self) -> None:
        """Wait until the connection has ended and its handlers are cancelled."""
        await asyncio.shield(self._done)

    # -- seed-style handlers ------------------------------------------------------

    def on(self, method: str, handler: SeedHandler) -> None:
        """Handle ``method`` on this connection with a seed-style handler.

        The handler receives a :class:`~wsrpc_typed.Message` and answers with
        ``await message.reply(*values)``. These handlers take precedence over
        the router's methods and are not validated or typed.
        """
        self._handlers[method] = handler

    # -- calling the peer ---------------------------------------------------------

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
        timeout: float | None = _DEFAULT,
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
        timeout: float | None = _DEFAULT,
    ) -> tuple[Any, ...]:
        """Call ``method`` and return every reply value (seed dialects may send several)."""
        if timeout is _DEFAULT:
            timeout = self._timeout
        if timeout is not None and timeout <= 0:
            raise CallTimeout(f"the deadline of {method!r} had passed before it was sent")
        if self._closed is not None or not self._known:
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
        id_ = next(self._ids)
        future: asyncio.Future[tuple[Any, ...]] = loop.create_future()
        self._pending[id_] = future
        if timeout is not None:
            self._arm(id_, method, timeout, loop)
        dialect = self.dialect
        request = Request(id_, method, wire_params(params), timeout if dialect.extensions else None)
        try:
            try:
                await self._send(dialect.encode(request), text=dialect.text)
            except self._closed_errors as exc:
                raise ConnectionClosed(describe_close(exc)) from None
            return await future
        finally:
            self._pending.pop(id_, None)
            if timeout is not None:
                self._deadlines.pop(id_, None)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: when sending failed, our caller has that error
            if future.cancelled() and dialect.extensions and self._closed is None:
                # Our caller gave up: tell the peer, and only then free the slot, so the
                # next call goes out after the cancellation.
                self._fire(Cancel(id_), then=None if window is None else window.release)
            elif window is not None:
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
        if not self.dialect.extensions:
            raise TypeError(f"streams need the JSON-RPC dialect, not {self.dialect.name}")
        if window < 1:
            raise ValueError("window must be at least 1")
        if timeout is not None and timeout <= 0:
            raise CallTimeout(f"the deadline of {method!r} had passed before it was sent")
        await self._ready(timeout)
        adapter = None if item_type is None else _adapter(item_type)
        id_ = next(self._ids)
        loop = asyncio.get_running_loop()
        end: asyncio.Future[tuple[Any, ...]] = loop.create_future()
        incoming = InStream(window)
        self._pending[id_] = end
        self._in_streams[id_] = incoming
        if timeout is not None:
            self._arm(id_, method, timeout, loop)
        request = Request(id_, method, wire_params(params), timeout, window)
        try:
            await self.send_frame(self.dialect.encode(request))
            while True:
                if incoming.items:
                    item = incoming.items.popleft()
                    yield item if adapter is None else adapter.validate_python(item)
                    credit = incoming.consumed()
                    if credit and not end.done():
                        await self.send_event(Credit(id_, credit))
                elif end.done():
                    end.result()  # raises the stream's error, if any
                    return
                else:
                    await incoming.wait()
        finally:
            self._pending.pop(id_, None)
            self._in_streams.pop(id_, None)
            self._deadlines.pop(id_, None)
            if end.done() and not end.cancelled():
                end.exception()  # retrieved: the consumer left, or has the error already
            elif not end.done() and self._closed is None:
                end.cancel()
                self._fire(Cancel(id_))

    def _arm(self, id_: Any, method: str, timeout: float, loop: asyncio.AbstractEventLoop) -> None:
        # One timer per connection, set for the earliest deadline, instead of one per call.
        deadline = loop.time() + timeout
        self._deadlines[id_] = (deadline, method, timeout)
        if deadline < self._sweep_at:
            if self._sweeper is not None:
                self._sweeper.cancel()
            self._sweep_at = deadline
            self._sweeper = loop.call_at(deadline, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper, self._sweep_at = None, math.inf
        now = loop.time() + 0.001  # the loop may run a timer up to its clock resolution early
        earliest = math.inf
        for id_, (deadline, method, timeout) in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[id_]
                self._expire(id_, method, timeout)
            elif deadline < earliest:
                earliest = deadline
        if earliest != math.inf and self._closed is None:
            self._sweep_at = earliest
            self._sweeper = loop.call_at(earliest, self._sweep, loop)

    def _expire(self, id_: Any, method: str, timeout: float) -> None:
        future = self._pending.pop(id_, None)
        if future is not None and not future.done():
            future.set_exception(CallTimeout(f"no reply to {method!r} within {timeout} s"))
            self._wake_stream(id_)

    async def notify(self, method: str, params: Params = None) -> None:
        """Send a notification: a call that gets no reply (params may be a pydantic model)."""
        await self._ready(self._timeout)
        await self.send_frame(self.dialect.encode(Notification(method, wire_params(params))))

    async def _ready(self, timeout: float | None) -> None:
        """Fail if closed; wait until the dialect is known (a silent peer may be a seed client)."""
        if self._closed is not None:
            raise self._closed
        if not self._known:
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
                await self._send(self.dialect.encode(event), text=self.dialect.text)
            return True
        except self._closed_errors:
            return False
        except TimeoutError:
            logger.warning("dropping %s: it stopped reading", self.remote_address)
            self.transport.abort()
            return False

    async def wait_idle(self) -> None:
        """Wait until no handler task runs on this connection."""
        while self._tasks or self._batches:
            await asyncio.wait(self._tasks | self._batches)

    async def abandon_calls(self, timeout: float | None = None) -> None:
        """Cancel every running handler and answer its caller with :class:`ShuttingDown`.

        The answers get ``timeout`` seconds to go out: a peer that stopped reading
        gets none, and closing the connection drops it.
        """
        running = list(self._running.items())
        tasks = [task for _, (task, _) in running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for id_, (_, method) in running:
                    await self.send_event(_error_reply(ShuttingDown(), id_, method))

    def drain(self) -> None:
        """Refuse new calls with :class:`ShuttingDown`; calls in flight go on."""
        self._draining = True

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

    # -- the reader ----------------------------------------------------------------

    async def run(self) -> None:
        """Read and serve frames until the connection closes. Returns, never raises."""
        recv = self.transport.recv
        decode = self.dialect.decode
        try:
            while True:
                frame = await recv()
                try:
                    event = decode(frame)
                    if not self._known:
                        self._known = True
                        self._spoken.set()
                    if len(self._tasks) >= self._max_in_flight and type(event) in _WORK:
                        # Only work waits for a handler slot (and stops the reading, which
                        # is the backpressure): cancellations, credits and replies that
                        # follow a full window of calls still get through.
                        await self._wait_for_slot()
                    reply = self._dispatch(event)
                except asyncio.CancelledError:
                    raise
                except self._closed_errors:  # the connection ended while work waited
                    raise
                except Exception as exc:  # a bug of ours must not end the connection
                    logger.exception("error while handling a frame")
                    self._report(exc)
                    continue
                if reply is not None:
                    await self._send(reply, text=self.dialect.text)
        except self._closed_errors as exc:
            self._teardown(ConnectionClosed(describe_close(exc)))
            self._spoken.set()  # wake callers waiting for a first frame that never came
        except BaseException:
            self._teardown(ConnectionClosed("connection reader stopped"))
            raise
        finally:
            if self._closed is None:  # pragma: no cover - defensive
                self._teardown(ConnectionClosed("connection closed"))

    async def _wait_for_slot(self) -> None:
        """Wait until a handler slot is free, or the connection has ended."""
        while len(self._tasks) >= self._max_in_flight:
            self._slot_free.clear()
            slot = asyncio.ensure_future(self._slot_free.wait())
            ended = asyncio.ensure_future(self.transport.wait_closed())
            try:
                await asyncio.wait((slot, ended), return_when=asyncio.FIRST_COMPLETED)
            finally:
                slot.cancel()
                ended.cancel()
            if ended.done() and not ended.cancelled():
                raise ConnectionClosed("connection closed")

    def _dispatch(self, event: Any) -> bytes | None:
        """Route one event; return the frame to send back, if any."""
        kind = type(event)
        if kind is Request:
            outgoing = self._serve(event, event.id, event.timeout, event.credit)
            return None if outgoing is None else self._encode_reply(outgoing)
        if kind is Response or kind is ErrorResponse:
            return self._settle(event)
        if kind is StreamItem:
            incoming = self._in_streams.get(_key(event.id))
            if incoming is not None:
                incoming.push(event.item)
            return None
        if kind is Credit:
            outgoing_stream = self._out_streams.get(_key(event.id))
            if outgoing_stream is not None:
                outgoing_stream.grant(event.credit)
            return None
        if kind is Cancel:
            running = self._running.get(_key(event.id))
            if running is not None:
                running[0].cancel()
            return None
        if kind is Notification:
            self._serve(event, NO_REPLY)
            return None
        if kind is Acknowledge:
            waiter = self._acks.pop(_key(event.id), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(event.values)
            return None
        if kind is Batch:
            if len(event.items) > self._max_batch:
                error = InvalidRequest(f"a batch may hold at most {self._max_batch} messages")
                return self.dialect.encode(_error_reply(error, None, ""))
            batch = asyncio.ensure_future(self._serve_batch(event))
            self._batches.add(batch)
            batch.add_done_callback(self._batch_done)
            return None
        if kind is Malformed:
            logger.info("malformed frame from %s: %s", self.remote_address, event.reason)
            return None if event.reply is None else self._encode_reply(event.reply)
        raise TypeError(f"unexpected event {kind.__name__}")  # pragma: no cover

    def _settle(self, event: Response | ErrorResponse) -> bytes | None:
        id_ = event.id
        key = id_ if type(id_) is int or type(id_) is str else _key(id_)
        future = self._pending.pop(key, None)
        if future is None or future.done():
            logger.debug("reply to an unknown or expired call id %r", event.id)
            return None
        if type(event) is Response:
            future.set_result(event.values)
        else:
            assert isinstance(event, ErrorResponse)
            cls = error_class_for_code(event.code)
            future.set_exception(cls(event.message, event.data, code=event.code))
        if self._in_streams:
            self._wake_stream(key)
        dialect = self.dialect
        if not dialect.extensions and dialect.name.startswith("ws-promise-v2"):
            # v2 callers confirm every reply (SYN_ACK); its sender may be waiting for it.
            return self._encode_reply(Acknowledge(event.id, (), event.method))
        return None

    def _wake_stream(self, key: Any) -> None:
        incoming = self._in_streams.get(key)
        if incoming is not None:
            incoming.wake()

    # -- serving requests ----------------------------------------------------------

    def _serve(
        self,
        call: Request | Notification,
        id_: Any,
        timeout: float | None = None,
        credit: int | None = None,
    ) -> Outgoing | None:
        """Answer one request (or run one notification) now, or hand it to a task (None)."""
        prepared = self._prepare(call, id_, timeout, credit)
        if type(prepared) is not tuple:
            return prepared  # type: ignore[return-value]
        method, kwargs, deadline = prepared
        if method.inline and not self._interceptors:
            return self._answer_inline(method, kwargs, id_)
        self._spawn(self._answer_and_send(method, kwargs, id_, deadline), id_, method.name)
        return None

    def _prepare(
        self,
        call: Request | Notification,
        id_: Any,
        timeout: float | None,
        credit: int | None,
    ) -> tuple[Method, dict[str, Any], float | None] | Outgoing | None:
        """Route and validate a call: the method, its arguments and its deadline, or the reply.

        Seed-style handlers and streams are handed to their task here (None).
        """
        name = call.method
        if self._handlers:
            handler = self._handlers.get(name)
            if handler is not None:
                message = Message(self, id_, name, call.params)
                self._spawn(message.run(handler), id_, name)
                return None
        method = self._router.get(name) if self._router is not None else None
        if method is None:
            if id_ is NO_REPLY:
                return None
            shown = name if len(name) <= 64 else name[:64] + "..."
            return _error_reply(MethodNotFound(f"Method not found: {shown}"), id_, name)
        refusal: RpcError | None = None
        if self._draining:
            refusal = ShuttingDown()
        elif method.scopes and not method.scopes <= self._scopes:
            missing = ", ".join(sorted(method.scopes - self._scopes))
            refusal = Forbidden(f"{name!r} requires the scopes: {missing}")
        elif timeout is not None and timeout <= 0:
            refusal = DeadlineExceeded()
        elif method.stream and (id_ is NO_REPLY or credit is None):
            refusal = InvalidRequest(
                f"{name!r} streams its result: call it as a stream (a JSON-RPC request "
                'with a "credit" member)'
            )
        elif (
            not method.inline
            and self._budget is not None
            and self._budget.used >= self._budget.limit
        ):
            refusal = ServerBusy()
        if refusal is not None:
            return None if id_ is NO_REPLY else _error_reply(refusal, id_, name)
        try:
            kwargs = method.validate(call.params)
        except InvalidParams as exc:
            return None if id_ is NO_REPLY else _error_reply(exc, id_, name)
        deadline = None
        if timeout is not None and (
            not method.inline or method.context_param is not None or self._interceptors
        ):  # (a handler that runs inline cannot be interrupted: it needs no deadline)
            deadline = self._loop.time() + timeout
        if method.context_param is not None:
            request_id = None if id_ is NO_REPLY else id_
            kwargs[method.context_param] = Context(self, name, request_id, deadline)
        if method.stream:
            stream = self._produce(method, kwargs, id_, deadline, OutStream(credit))
            self._spawn(stream, id_, name)
            return None
        return method, kwargs, deadline

    def _answer_inline(self, method: Method, kwargs: dict[str, Any], id_: Any) -> Outgoing | None:
        """Run a handler that cannot suspend, right here, and return its reply."""
        try:
            if method.is_async:
                coroutine = method.func(**kwargs)
                try:
                    coroutine.send(None)
                except StopIteration as stop:
                    result = stop.value
                else:  # pragma: no cover - excluded by Method.inline (no YIELD_VALUE)
                    coroutine.close()
                    raise RuntimeError(f"{method.name!r} suspended although it has no await")
            else:
                result = method.func(**kwargs)
            if id_ is NO_REPLY:
                return None
            return Response(id_, (method.dump_result(result),), method.name)
        except Exception as exc:
            return self._failure(exc, method, id_, None)

    def _failure(
        self, exc: Exception, method: Method, id_: Any, deadline: float | None
    ) -> ErrorResponse | None:
        """The reply to a handler that raised: its RpcError, a deadline, or an opaque error."""
        if isinstance(exc, RpcError):
            return None if id_ is NO_REPLY else _error_reply(exc, id_, method.name)
        if (
            isinstance(exc, TimeoutError)
            and deadline is not None
            and asyncio.get_running_loop().time() >= deadline
        ):
            return None if id_ is NO_REPLY else _error_reply(DeadlineExceeded(), id_, method.name)
        return self._internal_error(exc, id_, method.name)

    async def _invoke(self, method: Method, kwargs: dict[str, Any], deadline: float | None) -> Any:
        if method.is_async:
            call: Any = method.func(**kwargs)
        elif method.thread:
            call = asyncio.to_thread(method.func, **kwargs)
        else:
            return method.func(**kwargs)
        if deadline is None or method.inline:
            return await call  # a handler that cannot suspend cannot be interrupted either
        async with asyncio.timeout_at(deadline):
            return await call

    async def _answer(
        self, method: Method, kwargs: dict[str, Any], id_: Any, deadline: float | None = None
    ) -> Outgoing | None:
        try:
            if self._interceptors:
                ctx_name = method.context_param
                params = {k: v for k, v in kwargs.items() if k != ctx_name}
                context = kwargs[ctx_name] if ctx_name else None
                request_id = None if id_ is NO_REPLY else id_
                call = Call(method.name, params, "server", context, request_id)
                result = await intercept(
                    self._interceptors, call, lambda: self._invoke(method, kwargs, deadline)
                )
            else:
                result = await self._invoke(method, kwargs, deadline)
            if id_ is NO_REPLY:
                return None
            return Response(id_, (method.dump_result(result),), method.name)
        except Exception as exc:
            return self._failure(exc, method, id_, deadline)

    async def _produce(
        self,
        method: Method,
        kwargs: dict[str, Any],
        id_: Any,
        deadline: float | None,
        out: OutStream,
    ) -> None:
        key = _key(id_)
        if key is not None:
            self._out_streams[key] = out
        items = method.func(**kwargs)
        dialect, send = self.dialect, self._send
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    await out.wait_credit()
                    try:
                        item = await anext(items)
                    except StopAsyncIteration:
                        break
                    frame = dialect.encode(StreamItem(id_, method.dump_result(item)))
                    await send(frame, text=dialect.text)
                    out.spent()
            reply: Outgoing | None = Response(id_, (None,), method.name)
        except self._closed_errors:
            return
        except asyncio.CancelledError:
            if items.ag_frame is not None and not items.ag_running:
                # Parked at a yield (waiting for credit, or while its item was sent):
                # deliver the cancellation there, so the handler sees CancelledError.
                with contextlib.suppress(BaseException):
                    await items.athrow(asyncio.CancelledError())
            raise
        except Exception as exc:
            reply = self._failure(exc, method, id_, deadline)
        finally:
            await items.aclose()
            if key is not None:
                self._out_streams.pop(key, None)
        if reply is not None:
            await self.send_event(reply)

    def _internal_error(self, exc: Exception, id_: Any, method: str) -> ErrorResponse | None:
        logger.error(
            "handler for %r failed (request id %r)",
            method,
            id_,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        self._report(exc)
        return None if id_ is NO_REPLY else _error_reply(InternalError(), id_, method)

    async def _answer_and_send(
        self, method: Method, kwargs: dict[str, Any], id_: Any, deadline: float | None
    ) -> None:
        reply = await self._answer(method, kwargs, id_, deadline)
        frame = None if reply is None else self._encode_reply(reply)
        if frame is not None:
            with contextlib.suppress(*self._closed_errors):
                await self._send(frame, text=self.dialect.text)

    def _encode_reply(self, reply: Outgoing) -> bytes | None:
        """Encode a reply (None when it cannot be).

        A result larger than ``max_reply_size`` becomes ResponseTooLarge; one that
        has no wire form in this dialect (an integer too large for msgpack, values
        nested past the encoder's depth) becomes an opaque internal error.
        """
        try:
            frame = self.dialect.encode(reply)
        except (TypeError, ValueError) as exc:
            if type(reply) is Response:
                error = self._internal_error(exc, reply.id, reply.method)
                return None if error is None else self._encode_reply(error)
            logger.info("cannot encode a %s: %s", type(reply).__name__, exc)
            return None
        limit = self._max_reply_size
        if limit is not None and len(frame) > limit and type(reply) is Response:
            frame = self.dialect.encode(self._too_large(reply, len(frame)))
        return frame

    def _too_large(self, reply: Response, size: int) -> ErrorResponse:
        logger.warning("the result of %r is %d bytes, over the limit", reply.method, size)
        return _error_reply(ResponseTooLarge(), reply.id, reply.method)

    async def _serve_batch(self, batch: Batch) -> None:
        async def one(item: Any) -> Outgoing | None:
            kind = type(item)
            if kind is Request or kind is Notification:
                id_ = item.id if kind is Request else NO_REPLY
                prepared = self._prepare(item, id_, getattr(item, "timeout", None), None)
                if type(prepared) is not tuple:
                    return prepared  # type: ignore[return-value]
                method, kwargs, deadline = prepared
                if method.inline and not self._interceptors:
                    return self._answer_inline(method, kwargs, id_)
                # Each handler takes one of the connection's slots, as a single call does.
                while len(self._tasks) >= self._max_in_flight:
                    self._slot_free.clear()
                    await self._slot_free.wait()
                task = self._spawn(self._answer(method, kwargs, id_, deadline), id_, method.name)
                await asyncio.wait([task])
                return None if task.cancelled() else task.result()  # rpc.cancel: no entry
            if kind is Malformed:
                return item.reply  # type: ignore[no-any-return]
            self._settle(item)
            return None

        # Items run concurrently, within the connection's handler slots, and the reply
        # to the batch holds every answer, in one frame (JSON-RPC 2.0 §6).
        replies = await asyncio.gather(*(one(item) for item in batch.items))
        answers = self._fitting_batch(
            [r for r in replies if type(r) is Response or type(r) is ErrorResponse]
        )
        if answers:
            with contextlib.suppress(*self._closed_errors):
                await self._send(self.dialect.encode_batch(answers), text=self.dialect.text)

    def _fitting_batch(
        self, replies: list[Response | ErrorResponse]
    ) -> list[Response | ErrorResponse]:
        """The replies to a batch, the largest results replaced by ResponseTooLarge
        until the whole reply fits in ``max_reply_size``."""
        limit = self._max_reply_size
        if limit is None or not replies:
            return replies
        sizes = [len(self.dialect.encode(reply)) for reply in replies]
        total = sum(sizes) + len(sizes) + 1  # commas and brackets
        fitted = list(replies)
        for i in sorted(range(len(fitted)), key=sizes.__getitem__, reverse=True):
            if total <= limit:
                break
            reply = fitted[i]
            if type(reply) is Response:
                fitted[i] = self._too_large(reply, sizes[i])
                total += len(self.dialect.encode(fitted[i])) - sizes[i]
        return fitted

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            logger.error("batch task failed", exc_info=(type(exc), exc, exc.__traceback__))
            self._report(exc)

    # -- plumbing ------------------------------------------------------------------

    async def send_event(self, event: Outgoing) -> None:
        """Encode and send one event; a closed connection is not an error here."""
        with contextlib.suppress(*self._closed_errors):
            await self._send(self.dialect.encode(event), text=self.dialect.text)

    async def send_frame(self, frame: bytes) -> None:
        """Send an encoded frame as this dialect sends them.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        try:
            await self._send(frame, text=self.dialect.text)
        except self._closed_errors as exc:
            raise ConnectionClosed(describe_close(exc)) from None

    def expect_ack(self, id_: Any) -> asyncio.Future[tuple[Any, ...]]:
        """A future that resolves when the peer acknowledges the reply with ``id_``."""
        if self._closed is not None:
            raise self._closed
        future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        self._acks[id_] = future
        return future

    def forget_ack(self, id_: Any) -> None:
        """Stop waiting for the acknowledgement of ``id_``."""
        self._acks.pop(id_, None)

    def _spawn(
        self, coro: Coroutine[Any, Any, T], id_: Any = NO_REPLY, method: str = ""
    ) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        if self._budget is not None:
            self._budget.used += 1
        key = None if id_ is NO_REPLY else _key(id_)
        if key is not None:
            # The peer may cancel it by id (JSON-RPC rpc.cancel).
            self._running[key] = (task, method)
            task.add_done_callback(lambda _: self._running.pop(key, None))
        task.add_done_callback(self._task_done)
        return task

    def _fire(self, event: Outgoing, then: Callable[[], object] | None = None) -> None:
        """Send ``event`` in the background (from a finally clause, say), then call ``then``."""
        task = asyncio.ensure_future(self.send_event(event))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        if then is not None:
            task.add_done_callback(lambda _: then())

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if self._budget is not None:
            self._budget.used -= 1
        if len(self._tasks) < self._max_in_flight:
            self._slot_free.set()
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            logger.error("connection task failed", exc_info=(type(exc), exc, exc.__traceback__))
            self._report(exc)

    def _report(self, exc: BaseException) -> None:
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                logger.exception("error callback failed")

    def _teardown(self, exc: ConnectionClosed) -> None:
        if self._closed is not None:
            return
        self._closed = exc
        for future in (*self._pending.values(), *self._acks.values()):
            if not future.done():
                future.set_exception(ConnectionClosed(str(exc)))
        self._pending.clear()
        self._acks.clear()
        self._deadlines.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for incoming in self._in_streams.values():
            incoming.wake()
        tasks: list[asyncio.Task[Any]] = [*self._tasks, *self._batches]
        for task in tasks:
            task.cancel()

        async def finish() -> None:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if not self._done.done():
                self._done.set_result(None)

        self._finisher = asyncio.ensure_future(finish())
