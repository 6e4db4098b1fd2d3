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
import contextlib
import itertools
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import TypeAdapter

from .context import Context
from .dialects.events import (
    Acknowledge,
    Batch,
    ErrorResponse,
    Ignored,
    Malformed,
    Notification,
    Outgoing,
    Request,
    Response,
)
from .errors import (
    CallTimeout,
    ConnectionClosed,
    InternalError,
    InvalidParams,
    MethodNotFound,
    RpcError,
    error_class_for_code,
)
from .message import NO_REPLY, Message

if TYPE_CHECKING:
    from .dialects.events import Dialect
    from .registry import Method, Router
    from .transport import Transport

__all__ = ["Connection", "SeedHandler"]

logger = logging.getLogger("wsrpc_typed")

T = TypeVar("T")
#: A seed-style handler: gets the Message, answers with ``await message.reply(...)``.
SeedHandler = Callable[["Message"], Any]
ErrorCallback = Callable[[BaseException], None]

_DEFAULT: Any = object()
_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(tp: Any) -> TypeAdapter[Any]:
    adapter = _adapters.get(tp)
    if adapter is None:
        adapter = _adapters[tp] = TypeAdapter(tp)
    return adapter


def _error_reply(exc: RpcError, id_: Any, method: str) -> ErrorResponse:
    return ErrorResponse(id_, exc.code, exc.message, exc.data, method)


class Connection:
    """One RPC connection over a transport (server or client side).

    Either side can call the other: :meth:`call` and :meth:`notify` send
    requests, and incoming requests are served from ``router`` and from
    handlers added with :meth:`on`.

    Attributes:
        state: Per-connection state for the application's use.
        dialect: The wire dialect of this connection.
    """

    def __init__(
        self,
        transport: Transport,
        dialect: Dialect,
        router: Router | None = None,
        *,
        timeout: float | None = 30.0,
        ack_timeout: float = 30.0,
        max_in_flight: int = 128,
        on_error: ErrorCallback | None = None,
    ) -> None:
        self.transport = transport
        self.dialect = dialect
        self.state: dict[str, Any] = {}
        self._router = router
        self._timeout = timeout
        self.ack_timeout = ack_timeout
        self._max_in_flight = max_in_flight
        self._on_error = on_error
        self._handlers: dict[str, SeedHandler] = {}
        self._pending: dict[Any, asyncio.Future[tuple[Any, ...]]] = {}
        self._acks: dict[Any, asyncio.Future[tuple[Any, ...]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()
        self._ids = itertools.count(1)
        self._closed: ConnectionClosed | None = None
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
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
        params: list[Any] | dict[str, Any] | None = None,
        *,
        result_type: type[T],
        timeout: float | None = ...,
    ) -> T: ...

    @overload
    async def call(
        self,
        method: str,
        params: list[Any] | dict[str, Any] | None = None,
        *,
        result_type: None = None,
        timeout: float | None = ...,
    ) -> Any: ...

    async def call(
        self,
        method: str,
        params: list[Any] | dict[str, Any] | None = None,
        *,
        result_type: Any = None,
        timeout: float | None = _DEFAULT,
    ) -> Any:
        """Call ``method`` on the peer and return its result.

        Args:
            method: The method name.
            params: Named params (a dict) or positional params (a list).
            result_type: Validate the result as this type and return it typed.
            timeout: Seconds to wait for the reply (default: the connection's;
                ``None`` waits forever).

        Raises:
            RpcError: the peer answered with an error (the matching subclass for
                standard codes).
            CallTimeout: no reply in time.
            ConnectionClosed: the connection ended before the reply arrived.
            pydantic.ValidationError: the result does not match ``result_type``.
        """
        values = await self.request(method, params, timeout=timeout)
        result = values[0] if len(values) == 1 else (list(values) if values else None)
        if result_type is None:
            return result
        return _adapter(result_type).validate_python(result)

    async def request(
        self,
        method: str,
        params: list[Any] | dict[str, Any] | None = None,
        *,
        timeout: float | None = _DEFAULT,
    ) -> tuple[Any, ...]:
        """Call ``method`` and return every reply value (seed dialects may send several)."""
        if self._closed is not None:
            raise self._closed
        id_ = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, ...]] = loop.create_future()
        self._pending[id_] = future
        if timeout is _DEFAULT:
            timeout = self._timeout
        timer = loop.call_later(timeout, self._expire, id_, method, timeout) if timeout else None
        try:
            await self.transport.send(
                self.dialect.encode(Request(id_, method, params)), self.dialect.text
            )
            return await future
        finally:
            self._pending.pop(id_, None)
            if timer is not None:
                timer.cancel()

    def _expire(self, id_: Any, method: str, timeout: float) -> None:
        future = self._pending.pop(id_, None)
        if future is not None and not future.done():
            future.set_exception(CallTimeout(f"no reply to {method!r} within {timeout} s"))

    async def notify(self, method: str, params: list[Any] | dict[str, Any] | None = None) -> None:
        """Send a notification: a call that gets no reply."""
        if self._closed is not None:
            raise self._closed
        await self.transport.send(
            self.dialect.encode(Notification(method, params)), self.dialect.text
        )

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and wait until it has ended."""
        await self.transport.close(code, reason)
        await self.wait_closed()

    # -- the reader ----------------------------------------------------------------

    async def run(self) -> None:
        """Read and serve frames until the connection closes. Returns, never raises."""
        recv = self.transport.recv
        decode = self.dialect.decode
        try:
            while True:
                if len(self._tasks) >= self._max_in_flight:
                    self._slot_free.clear()
                    await self._slot_free.wait()
                frame = await recv()
                try:
                    reply = await self._dispatch(decode(frame))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug of ours must not end the connection
                    logger.exception("error while handling a frame")
                    self._report(exc)
                    continue
                if reply is not None:
                    await self.transport.send(reply, self.dialect.text)
        except ConnectionClosed as exc:
            self._teardown(exc)
        except BaseException:
            self._teardown(ConnectionClosed("connection reader stopped"))
            raise
        finally:
            if self._closed is None:  # pragma: no cover - defensive
                self._teardown(ConnectionClosed("connection closed"))

    async def _dispatch(self, event: Any) -> bytes | None:
        kind = type(event)
        if kind is Request:
            outgoing = await self._serve(event, event.id)
            return None if outgoing is None else self.dialect.encode(outgoing)
        if kind is Response or kind is ErrorResponse:
            return self._settle(event)
        if kind is Notification:
            await self._serve(event, NO_REPLY)
            return None
        if kind is Acknowledge:
            waiter = self._acks.pop(event.id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(event.values)
            return None
        if kind is Batch:
            self._spawn(self._serve_batch(event))
            return None
        if kind is Malformed:
            logger.info("malformed frame from %s: %s", self.remote_address, event.reason)
            return None if event.reply is None else self.dialect.encode(event.reply)
        if kind is Ignored:
            return None
        raise TypeError(f"unexpected event {kind.__name__}")  # pragma: no cover

    def _settle(self, event: Response | ErrorResponse) -> bytes | None:
        future = self._pending.pop(event.id, None)
        if future is None or future.done():
            logger.debug("reply to an unknown or expired call id %r", event.id)
            return None
        if type(event) is Response:
            future.set_result(event.values)
        else:
            assert isinstance(event, ErrorResponse)
            cls = error_class_for_code(event.code)
            future.set_exception(cls(event.message, event.data, code=event.code))
        if self.dialect.name.startswith("ws-promise-v2"):
            # v2 callers confirm every reply (SYN_ACK); its sender may be waiting for it.
            return self.dialect.encode(Acknowledge(event.id))
        return None

    # -- serving requests ----------------------------------------------------------

    async def _serve(
        self, call: Request | Notification, id_: Any, *, spawn: bool = True
    ) -> Outgoing | None:
        """Answer one request (or run one notification); None when a task took it over."""
        name = call.method
        if self._handlers:
            handler = self._handlers.get(name)
            if handler is not None:
                message = Message(self, id_, name, call.params)
                self._spawn(message.run(handler))
                return None
        method = self._router.get(name) if self._router is not None else None
        if method is None:
            if id_ is NO_REPLY:
                return None
            return _error_reply(MethodNotFound(f"Method not found: {name}"), id_, name)
        try:
            kwargs = method.validate(call.params)
        except InvalidParams as exc:
            return None if id_ is NO_REPLY else _error_reply(exc, id_, name)
        if method.context_param is not None:
            kwargs[method.context_param] = Context(self, name, None if id_ is NO_REPLY else id_)
        if method.inline or not spawn:
            return await self._answer(method, kwargs, id_)
        self._spawn(self._answer_and_send(method, kwargs, id_))
        return None

    async def _answer(self, method: Method, kwargs: dict[str, Any], id_: Any) -> Outgoing | None:
        try:
            if method.is_async:
                result = await method.func(**kwargs)
            elif method.thread:
                result = await asyncio.to_thread(method.func, **kwargs)
            else:
                result = method.func(**kwargs)
            if id_ is NO_REPLY:
                return None
            return Response(id_, (method.dump_result(result),), method.name)
        except RpcError as exc:
            return None if id_ is NO_REPLY else _error_reply(exc, id_, method.name)
        except Exception as exc:
            return self._internal_error(exc, id_, method.name)

    def _internal_error(self, exc: Exception, id_: Any, method: str) -> ErrorResponse | None:
        logger.error(
            "handler for %r failed (request id %r)",
            method,
            id_,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        self._report(exc)
        return None if id_ is NO_REPLY else _error_reply(InternalError(), id_, method)

    async def _answer_and_send(self, method: Method, kwargs: dict[str, Any], id_: Any) -> None:
        reply = await self._answer(method, kwargs, id_)
        if reply is not None:
            await self.send_event(reply)

    async def _serve_batch(self, batch: Batch) -> None:
        async def one(item: Any) -> Outgoing | None:
            kind = type(item)
            if kind is Request:
                return await self._serve(item, item.id, spawn=False)
            if kind is Notification:
                await self._serve(item, NO_REPLY, spawn=False)
            elif kind is Malformed:
                return item.reply  # type: ignore[no-any-return]
            else:
                self._settle(item)
            return None

        # Items run concurrently (gather gives each a task) and the reply to the
        # batch holds every answer, in one frame (JSON-RPC 2.0 §6).
        replies = await asyncio.gather(*(one(item) for item in batch.items))
        answers = [r for r in replies if type(r) is Response or type(r) is ErrorResponse]
        if answers:
            with contextlib.suppress(ConnectionClosed):
                await self.transport.send(self.dialect.encode_batch(answers), self.dialect.text)

    # -- plumbing ------------------------------------------------------------------

    async def send_event(self, event: Outgoing) -> None:
        """Encode and send one event; a closed connection is not an error here."""
        with contextlib.suppress(ConnectionClosed):
            await self.transport.send(self.dialect.encode(event), self.dialect.text)

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

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
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
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()

        async def finish() -> None:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if not self._done.done():
                self._done.set_result(None)

        self._finisher = asyncio.ensure_future(finish())
