"""A connection: one transport, one dialect, calls in both directions.

:class:`Connection` joins :class:`~wsrpc_typed.calling.Calling` (our calls to
the peer) and :class:`~wsrpc_typed.serving.Serving` (the peer's calls to us),
over the state in :class:`~wsrpc_typed.endpoint.Endpoint`. This module holds
what connects them: the reader and the end of the connection.

Rules of this module:

* One reader loop per connection decodes frames and routes events: requests to
  handlers, replies to the calls waiting for them, acknowledgements to the
  replies waiting for them.
* At most ``max_in_flight`` handler tasks run per connection; at the cap the
  reader stops reading (backpressure reaches the peer through TCP) instead of
  buffering. Only work waits for a slot: replies, cancellations and credits
  that follow a full window of calls still get through.
* When the connection ends, every pending call fails with ConnectionClosed and
  every running handler is cancelled.
* Nothing a peer sends can stop the reader: a failure while handling a frame
  is logged and reported, and the reader goes on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .calling import Calling
from .dialects.events import (
    Acknowledge,
    Batch,
    Cancel,
    Credit,
    ErrorResponse,
    Malformed,
    Notification,
    Request,
    Response,
    StreamItem,
)
from .endpoint import SeedHandler, _key, logger
from .errors import ConnectionClosed, InvalidRequest
from .message import NO_REPLY
from .serving import Serving, _error_reply
from .transport import describe_close

__all__ = ["Connection", "SeedHandler"]

#: Events that take a handler slot; the reader waits for one before dispatching them.
_WORK = (Request, Notification, Batch)


class Connection(Calling, Serving):
    """One RPC connection over a transport (server or client side).

    Either side can call the other: :meth:`call` and :meth:`notify` send
    requests, and incoming requests are served from ``router`` and from
    handlers added with :meth:`on`.

    Attributes:
        state: Per-connection state for the application's use.
        dialect: The wire dialect of this connection.
        identity: Who the peer is (from the server's ``authenticate`` hook).
    """

    async def wait_closed(self) -> None:
        """Wait until the connection has ended and its handlers are cancelled."""
        await asyncio.shield(self._done)

    def on(self, method: str, handler: SeedHandler) -> None:
        """Handle ``method`` on this connection with a seed-style handler.

        The handler receives a :class:`~wsrpc_typed.Message` and answers with
        ``await message.reply(*values)``. These handlers take precedence over
        the router's methods and are not validated or typed.
        """
        self._handlers[method] = handler

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
            # Cancelled after the failures above reach their waiters: a handler waiting for
            # an acknowledgement or for its own call to the peer sees ConnectionClosed first.
            self._loop.call_soon(task.cancel)

        async def finish() -> None:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if not self._done.done():
                self._done.set_result(None)

        self._finisher = asyncio.ensure_future(finish())
