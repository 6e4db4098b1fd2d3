"""Our calls to the peer: requests, notifications, streams, and their deadlines.

Rules of this module:

* Every call has an id from the connection's counter and a future in
  ``_pending``; the reader settles it with the peer's reply (:meth:`Calling._settle`).
* Deadlines share one timer per connection, set for the earliest of them.
* At most ``max_calls_out`` calls are on the wire at once; more wait their turn
  here (:class:`~wsrpc_typed.limits.CallWindow`), not at the peer.
* A caller that gives up (cancelled) tells the peer (``rpc.cancel``) on
  dialects that can; a call is never re-sent.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel, TypeAdapter

from .dialects.events import (
    Acknowledge,
    Cancel,
    Credit,
    ErrorResponse,
    Notification,
    Outgoing,
    Request,
    Response,
)
from .endpoint import Endpoint, _key, logger
from .errors import CallTimeout, ConnectionClosed, error_class_for_code
from .streams import InStream
from .transport import describe_close

__all__ = ["Calling", "Params", "result_of", "wire_params"]

T = TypeVar("T")
#: Params of a call: named (a dict or a pydantic model), positional (a list), or none.
Params = dict[str, Any] | list[Any] | BaseModel | None

_DEFAULT: Any = object()
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


class Calling(Endpoint):
    """Calling the peer: the calling half of :class:`~wsrpc_typed.connection.Connection`."""

    if TYPE_CHECKING:

        def _encode_reply(self, reply: Outgoing) -> bytes | None: ...

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
            self._arm(id_, method, timeout)
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
        end: asyncio.Future[tuple[Any, ...]] = self._loop.create_future()
        incoming = InStream(window)
        self._pending[id_] = end
        self._in_streams[id_] = incoming
        if timeout is not None:
            self._arm(id_, method, timeout)
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

    def _arm(self, id_: Any, method: str, timeout: float) -> None:
        # One timer per connection, set for the earliest deadline, instead of one per call.
        loop = self._loop
        deadline = loop.time() + timeout
        self._deadlines[id_] = (deadline, method, timeout)
        if deadline < self._sweep_at:
            if self._sweeper is not None:
                self._sweeper.cancel()
            self._sweep_at = deadline
            self._sweeper = loop.call_at(deadline, self._sweep)

    def _sweep(self) -> None:
        self._sweeper, self._sweep_at = None, math.inf
        loop = self._loop
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
            self._sweeper = loop.call_at(earliest, self._sweep)

    def _expire(self, id_: Any, method: str, timeout: float) -> None:
        future = self._pending.pop(id_, None)
        if future is not None and not future.done():
            future.set_exception(CallTimeout(f"no reply to {method!r} within {timeout} s"))
            self._wake_stream(id_)

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
