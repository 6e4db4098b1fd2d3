"""The peer's calls to us: routing, validation, handlers, replies.

Rules of this module:

* Handlers that can suspend run in their own task, so a slow handler never
  blocks the connection; handlers that cannot suspend (``Method.inline``) run
  where the frame was read, which is what a task would do, minus its cost.
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
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .context import Context
from .dialects.events import (
    Batch,
    ErrorResponse,
    Malformed,
    Notification,
    Outgoing,
    Request,
    Response,
    StreamItem,
)
from .endpoint import Endpoint, _key, logger
from .errors import (
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
)
from .interceptors import Call, intercept
from .message import NO_REPLY, Message, passes_through
from .streams import OutStream

if TYPE_CHECKING:
    from .connection import Connection
    from .registry import Method

__all__ = ["Serving"]

T = TypeVar("T")


def _error_reply(exc: RpcError, id_: Any, method: str) -> ErrorResponse:
    return ErrorResponse(id_, exc.code, exc.message, exc.data, method)


class Serving(Endpoint):
    """Serving the peer: the serving half of :class:`~wsrpc_typed.connection.Connection`."""

    if TYPE_CHECKING:

        def _settle(self, event: Response | ErrorResponse) -> bytes | None: ...

    def drain(self) -> None:
        """Refuse new calls with :class:`ShuttingDown`; calls in flight go on."""
        self._draining = True

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

    def expect_ack(self, id_: Any) -> asyncio.Future[tuple[Any, ...]]:
        """A future that resolves when the peer acknowledges the reply with ``id_``."""
        if self._closed is not None:
            raise self._closed
        future: asyncio.Future[tuple[Any, ...]] = self._loop.create_future()
        self._acks[id_] = future
        return future

    def forget_ack(self, id_: Any) -> None:
        """Stop waiting for the acknowledgement of ``id_``."""
        self._acks.pop(id_, None)

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
                message = Message(cast("Connection", self), id_, name, call.params)
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
            kwargs[method.context_param] = Context(
                cast("Connection", self), name, request_id, deadline
            )
        if method.stream:
            stream = self._produce(method, kwargs, id_, deadline, OutStream(credit))
            self._spawn(stream, id_, name)
            return None
        return method, kwargs, deadline

    def _answer_inline(self, method: Method, kwargs: dict[str, Any], id_: Any) -> Outgoing | None:
        """Run a handler that cannot suspend, right here, and return its reply.

        It runs in a copy of the reader's context, as a task would: context
        variables it sets do not leak into later calls.
        """
        try:
            if method.is_async:
                coroutine = method.func(**kwargs)
                try:
                    contextvars.copy_context().run(coroutine.send, None)
                except StopIteration as stop:
                    result = stop.value
                else:  # pragma: no cover - excluded by Method.inline (no YIELD_VALUE)
                    coroutine.close()
                    raise RuntimeError(f"{method.name!r} suspended although it has no await")
            else:
                result = contextvars.copy_context().run(method.func, **kwargs)
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
            return None if id_ is NO_REPLY else _error_reply(exc, id_, method.name)
        if isinstance(exc, self._closed_errors) and self._closed is not None:
            return None  # this connection ended under the handler: no one to answer
        if isinstance(exc, TimeoutError) and deadline is not None and self._loop.time() >= deadline:
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
        except BaseException as exc:
            if passes_through(exc):
                raise
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
            if key is not None:
                self._out_streams.pop(key, None)
        if reply is not None:
            await self.send_event(reply)

    def _internal_error(self, exc: BaseException, id_: Any, method: str) -> ErrorResponse | None:
        exc_info = (type(exc), exc, exc.__traceback__)
        if id_ is NO_REPLY:
            logger.error("handler for %r failed (a notification)", method, exc_info=exc_info)
        else:
            logger.error("handler for %r failed (request id %r)", method, id_, exc_info=exc_info)
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
        async def in_slot(
            run: Callable[[], Coroutine[Any, Any, T]], id_: Any, name: str
        ) -> T | None:
            # Each handler takes one of the connection's slots, as a single call does.
            while len(self._tasks) >= self._max_in_flight:
                self._slot_free.clear()
                await self._slot_free.wait()
            task = self._spawn(run(), id_, name)
            await asyncio.wait([task])
            return None if task.cancelled() else task.result()  # rpc.cancel: no entry

        async def one(item: Any) -> Outgoing | None:
            kind = type(item)
            if kind is Request or kind is Notification:
                id_ = item.id if kind is Request else NO_REPLY
                handler = self._handlers.get(item.method)
                if handler is not None:  # seed-style: its reply joins the batch's reply
                    connection = cast("Connection", self)
                    message = Message(connection, id_, item.method, item.params, collect=True)
                    await in_slot(lambda: message.run(handler), id_, item.method)
                    return message.collected
                prepared = self._prepare(item, id_, getattr(item, "timeout", None), None)
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
