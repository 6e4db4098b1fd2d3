"""The peer's calls to us: routing, validation, handlers, replies.

A :class:`Dispatcher` serves the calls that arrive on one connection, from the
router and from seed-style handlers. The connection hands it each call; it
answers at once or runs the handler in a task that the connection owns.

Rules of this module:

* Handlers that can suspend run in their own task, so a slow handler never
  blocks the connection; handlers that cannot suspend (``Method.inline``) run
  where the message was read, which is what a task would do, minus its cost.
* Every call is validated before its handler runs; every result is serialised
  through its declared type before it is sent.
* This is an error boundary: RpcError travels to the peer as is, any other
  handler exception becomes an opaque InternalError and is logged with its
  traceback; cancellation passes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .context import Context
from .dialects.events import (
    Batch,
    ErrorResponse,
    Malformed,
    Notification,
    Request,
    Response,
)
from .errors import (
    ConnectionClosed,
    DeadlineExceeded,
    Forbidden,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    RpcError,
    ServerBusy,
    ShuttingDown,
)
from .interceptors import Call, Interceptor, intercept
from .limits import CallBudget
from .logs import current_call
from .message import Message, SeedHandler, passes_through
from .protocol import NO_REPLY, RpcProtocol, ServedCall, error_reply

if TYPE_CHECKING:
    from .connection import Connection
    from .registry import Method, Methods

__all__ = ["Dispatcher"]

logger = logging.getLogger("wsrpc_typed")

T = TypeVar("T")


class Dispatcher:
    """Serves the peer's calls on one connection (see the module rules).

    Attributes:
        handlers: Seed-style handlers by method name (they take precedence over
            the router's methods).
        draining: Whether new calls are refused with ShuttingDown.
    """

    __slots__ = (
        "_budget",
        "_conn",
        "_interceptors",
        "_loop",
        "_on_error",
        "_protocol",
        "_router",
        "_scopes",
        "draining",
        "handlers",
    )

    def __init__(
        self,
        connection: Connection,
        protocol: RpcProtocol,
        router: Methods | None,
        *,
        interceptors: tuple[Interceptor, ...],
        scopes: frozenset[str],
        budget: CallBudget | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        self._conn = connection
        self._protocol = protocol
        self._budget = budget
        self._loop = asyncio.get_running_loop()
        self._router = router
        self._interceptors = interceptors
        self._scopes = scopes
        self._on_error = on_error
        self.handlers: dict[str, SeedHandler] = {}
        self.draining = False

    def report(self, exc: BaseException) -> None:
        """Tell the error listener about an unexpected failure."""
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                logger.exception("error callback failed")

    # -- single calls ---------------------------------------------------------------

    def serve(self, call: Request | Notification) -> None:
        """Answer one request (or run one notification) now, or start its handler's task."""
        if type(call) is Request:
            id_, timeout, credit = call.id, call.timeout, call.credit
        else:
            id_, timeout, credit = NO_REPLY, None, None
        prepared = self._prepare(call, id_, timeout, credit)
        if type(prepared) is not tuple:
            if prepared is not None:
                self.send_reply(prepared)  # type: ignore[arg-type]
            return
        method, kwargs, deadline = prepared
        if method.inline and not self._interceptors:
            reply = self._answer_inline(method, kwargs, id_)
            if reply is not None:
                self.send_reply(reply)
            return
        self._conn.spawn(self._answer_and_send(method, kwargs, id_, deadline), id_, method.name)

    def _prepare(
        self,
        call: Request | Notification,
        id_: Any,
        timeout: float | None,
        credit: int | None,
    ) -> tuple[Method, dict[str, Any], float | None] | ErrorResponse | None:
        """Route and validate a call: the method, its arguments and its deadline, or the reply.

        Seed-style handlers and streams are handed to their task here (None).
        """
        name = call.method
        if self.handlers:
            handler = self.handlers.get(name)
            if handler is not None:
                message = Message(self._conn, id_, name, call.params)
                self._conn.spawn(message.run(handler), id_, name)
                return None
        method = self._router.get(name) if self._router is not None else None
        if method is None:
            if id_ is NO_REPLY:
                return None
            shown = name if len(name) <= 64 else name[:64] + "..."
            return error_reply(MethodNotFound(f"Method not found: {shown}"), id_, name)
        refusal: RpcError | None = None
        if self.draining:
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
            return None if id_ is NO_REPLY else error_reply(refusal, id_, name)
        try:
            kwargs = method.validate(call.params)
        except InvalidParams as exc:
            return None if id_ is NO_REPLY else error_reply(exc, id_, name)
        deadline = None
        if timeout is not None and (
            not method.inline or method.context_param is not None or self._interceptors
        ):  # (a handler that runs inline cannot be interrupted: it needs no deadline)
            deadline = self._loop.time() + timeout
        if method.context_param is not None:
            request_id = None if id_ is NO_REPLY else id_
            kwargs[method.context_param] = Context(self._conn, name, request_id, deadline)
        if method.stream:
            producer = _Producer()
            _, producer.served = self._conn.spawn(
                self._produce(method, kwargs, id_, deadline, producer), id_, name, credit
            )
            producer.served.waker = producer.more  # (the task starts after this)
            return None
        return method, kwargs, deadline

    def _answer_inline(
        self, method: Method, kwargs: dict[str, Any], id_: Any
    ) -> Response | ErrorResponse | None:
        """Run a handler that cannot suspend, right here, and return its reply.

        It runs in a copy of the reader's context, as a task would: context
        variables it sets do not leak into later calls.
        """
        context = contextvars.copy_context()
        context.run(current_call.set, (self._conn.id, None if id_ is NO_REPLY else id_))
        try:
            if method.is_async:
                coroutine = method.func(**kwargs)
                try:
                    context.run(coroutine.send, None)
                except StopIteration as stop:
                    result = stop.value
                else:  # pragma: no cover - excluded by Method.inline (no YIELD_VALUE)
                    coroutine.close()
                    raise RuntimeError(f"{method.name!r} suspended although it has no await")
            else:
                result = context.run(method.func, **kwargs)
            if id_ is NO_REPLY:
                return None
            return Response(id_, (method.dump_result(result),), method.name)
        except BaseException as exc:
            if passes_through(exc):
                raise
            return self._failure(exc, method, id_, None)

    def _failure(
        self, exc: BaseException, method: Method, id_: Any, deadline: float | None
    ) -> ErrorResponse | None:
        """The reply to a handler that raised: its RpcError, a deadline, or an opaque error."""
        if isinstance(exc, RpcError):
            return None if id_ is NO_REPLY else error_reply(exc, id_, method.name)
        if isinstance(exc, ConnectionClosed) and self._conn.closed:
            return None  # this connection ended under the handler: no one to answer
        if isinstance(exc, TimeoutError) and deadline is not None and self._loop.time() >= deadline:
            return None if id_ is NO_REPLY else error_reply(DeadlineExceeded(), id_, method.name)
        return self.internal_error(exc, id_, method.name)

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
    ) -> Response | ErrorResponse | None:
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
        except BaseException as exc:
            if passes_through(exc):
                raise
            return self._failure(exc, method, id_, deadline)

    async def _answer_and_send(
        self, method: Method, kwargs: dict[str, Any], id_: Any, deadline: float | None
    ) -> None:
        current_call.set((self._conn.id, None if id_ is NO_REPLY else id_))
        reply = await self._answer(method, kwargs, id_, deadline)
        if reply is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._conn.send_reply(reply)

    async def _produce(
        self,
        method: Method,
        kwargs: dict[str, Any],
        id_: Any,
        deadline: float | None,
        producer: _Producer,
    ) -> None:
        conn = self._conn
        current_call.set((conn.id, id_))
        protocol = self._protocol
        served = producer.served
        assert served is not None
        more = producer.more
        items = method.func(**kwargs)
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    while served.credit is not None and served.credit <= 0:
                        more.clear()
                        await more.wait()
                    try:
                        item = await anext(items)
                    except StopAsyncIteration:
                        break
                    protocol.send_item(served, method.dump_result(item))
                    written = conn.flush()
                    if conn.closed:
                        return
                    if written is not None:
                        await written
            reply: Response | ErrorResponse | None = Response(id_, (None,), method.name)
        except ConnectionClosed:
            return
        except asyncio.CancelledError as exc:
            if not passes_through(exc):  # the handler's own, not a cancellation of the stream
                reply = self._failure(exc, method, id_, deadline)
            else:
                if items.ag_frame is not None and not items.ag_running:
                    # Parked at a yield (waiting for credit, or while its item was sent):
                    # deliver the cancellation there, so the handler sees CancelledError.
                    with contextlib.suppress(BaseException):
                        await items.athrow(asyncio.CancelledError())
                raise
        except BaseException as exc:
            if passes_through(exc):
                raise
            reply = self._failure(exc, method, id_, deadline)
        finally:
            await items.aclose()
        if reply is not None:
            with contextlib.suppress(ConnectionClosed):
                await conn.send_reply(reply)

    def internal_error(self, exc: BaseException, id_: Any, method: str) -> ErrorResponse | None:
        """Log and report an unexpected handler failure; the opaque reply to send, if any."""
        exc_info = (type(exc), exc, exc.__traceback__)
        if id_ is NO_REPLY:
            logger.error("handler for %r failed (a notification)", method, exc_info=exc_info)
        else:
            logger.error("handler for %r failed (request id %r)", method, id_, exc_info=exc_info)
        self.report(exc)
        return None if id_ is NO_REPLY else error_reply(InternalError(), id_, method)

    def send_reply(self, reply: Response | ErrorResponse) -> None:
        """Queue a reply; one whose result cannot be encoded becomes an internal error."""
        failure = self._protocol.send_reply(reply)
        if failure is not None:
            error = self.internal_error(failure, reply.id, reply.method)
            if error is not None:
                self._protocol.send_reply(error)

    # -- batches, drain -------------------------------------------------------------

    async def serve_batch(self, batch: Batch) -> None:
        """Serve a batch's items concurrently, and send their replies in one frame (§6)."""
        conn = self._conn

        async def in_slot(
            run: Callable[[], Coroutine[Any, Any, T]], id_: Any, name: str
        ) -> T | None:
            # Each handler takes one of the connection's slots, as a single call does.
            await conn.wait_for_slot()
            task, _ = conn.spawn(run(), id_, name)
            await asyncio.wait([task])
            return None if task.cancelled() else task.result()  # rpc.cancel: no entry

        async def one(item: Any) -> Response | ErrorResponse | None:
            kind = type(item)
            if kind is Request or kind is Notification:
                id_ = item.id if kind is Request else NO_REPLY
                handler = self.handlers.get(item.method)
                if handler is not None:  # seed-style: its reply joins the batch's reply
                    message = Message(conn, id_, item.method, item.params, collect=True)
                    await in_slot(lambda: message.run(handler), id_, item.method)
                    return message.collected
                timeout = item.timeout if kind is Request else None
                prepared = self._prepare(item, id_, timeout, None)
                if type(prepared) is not tuple:
                    return prepared  # type: ignore[return-value]
                method, kwargs, deadline = prepared
                if method.inline and not self._interceptors:
                    return self._answer_inline(method, kwargs, id_)
                return await in_slot(
                    lambda: self._answer(method, kwargs, id_, deadline), id_, method.name
                )
            if kind is Malformed:
                return item.reply  # type: ignore[no-any-return]
            settled = self._protocol.settle(item)
            if settled is not None:
                conn.settled(settled)
            return None

        replies = await asyncio.gather(*(one(item) for item in batch.items))
        answers = [r for r in replies if type(r) is Response or type(r) is ErrorResponse]
        if answers and not conn.closed:
            for reply, exc in self._protocol.send_batch(answers):
                self.internal_error(exc, reply.id, reply.method)  # (already replaced)
            written = conn.flush()
            if written is not None:
                with contextlib.suppress(ConnectionClosed):
                    await written

    async def abandon(self, running: list[ServedCall], timeout: float | None) -> None:
        """Cancel the handlers of ``running``; answer each caller with ShuttingDown."""
        tasks = [served.token for served in running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for served in running:
                    await self._conn.send_event(
                        error_reply(ShuttingDown(), served.id, served.method)
                    )


class _Producer:
    """What a stream's producer task knows of itself: its call, and the credit event."""

    __slots__ = ("more", "served")

    def __init__(self) -> None:
        self.more = asyncio.Event()
        self.served: ServedCall | None = None
