"""The RPC protocol of one connection, without I/O: call state in, frames out.

:class:`RpcProtocol` is to an RPC connection what h11's ``Connection`` is to
HTTP/1.1 and websockets' ``Protocol`` to a WebSocket: it never reads a socket,
never sleeps and never spawns anything. The driver
(:class:`~wsrpc_typed.connection.Connection`) feeds it every message received
(:meth:`RpcProtocol.receive`), acts on the event it returns, asks it to send
(:meth:`RpcProtocol.send_request`, :meth:`RpcProtocol.send_reply`, ...), and
writes the frames it queued (:meth:`RpcProtocol.data_to_send`). The current
time is passed in; :attr:`RpcProtocol.next_deadline` tells when to come back.

Rules of this module:

* Our calls get ids from one counter and a :class:`PendingCall` each, until
  the peer's reply settles it (``receive`` returns it, its ``reply`` set), its
  deadline passes (:meth:`RpcProtocol.expire`), the caller forgets it
  (:meth:`RpcProtocol.forget`) or the connection ends
  (:meth:`RpcProtocol.connection_lost`). A reply to an unknown or settled id
  is dropped: a call is settled once.
* A dialect that acknowledges replies (``dialect.acks``: v2, seed-protocol.md
  §2.4) has every reply we receive confirmed with an :class:`Acknowledge`
  (SYN_ACK) at once; a reply we send may wait for the peer's
  (:meth:`RpcProtocol.expect_ack`). Other dialects acknowledge nothing; an
  acknowledgement nobody waits for (legacy ``instruction: 1``, §1.2) is ignored.
* The peer's calls whose handlers run in the driver's tasks are counted in
  :attr:`RpcProtocol.in_flight` (``begin``/``end``); the driver stops reading
  at ``max_in_flight``. Those with a usable id are kept, so that a cancel
  (``rpc.cancel``) or a stream credit finds them.
* Streams are credit-based on both sides (``rpc.item``/``rpc.credit``): a
  producer may send an item only while it holds credit
  (:attr:`ServedCall.credit`); a consumer grants half a window more each time
  half a window of items has been consumed (:meth:`RpcProtocol.consumed`).
* A batch (JSON-RPC 2.0 §6) holds at most ``max_batch`` messages; a larger one
  is answered with one -32600 error. The replies to a batch go out in one
  frame that fits in ``max_reply_size``: the largest results are replaced by
  ResponseTooLarge until it fits. A single reply over the limit is replaced
  likewise.
* A reply that has no wire form in the dialect (an integer too large for
  msgpack, values nested too deep) is not sent: :meth:`RpcProtocol.send_reply`
  returns the error, and the driver answers with an opaque internal error.
* Frames that are not messages are answered as the dialect says (``Malformed``
  carries the reply, if any) and never end the connection.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from .dialects.detect import AutoDialect
from .dialects.events import (
    Acknowledge,
    Batch,
    Cancel,
    Credit,
    Dialect,
    ErrorResponse,
    Malformed,
    Notification,
    Outgoing,
    Request,
    Response,
    StreamItem,
)
from .errors import InternalError, InvalidRequest, ResponseTooLarge, RpcError

__all__ = [
    "NO_REPLY",
    "AckWait",
    "CancelReceived",
    "CreditReceived",
    "ItemReceived",
    "PendingCall",
    "ProtocolEvent",
    "RpcProtocol",
    "ServedCall",
    "error_reply",
    "key_of",
]

logger = logging.getLogger("wsrpc_typed")

#: The "id" of a notification: a request id may be null, so None cannot mean "no reply".
NO_REPLY: Any = object()


def key_of(id_: Any) -> Any:
    """A request id usable as a dict key, else None (seed dialects allow any JSON id)."""
    try:
        hash(id_)
    except TypeError:
        return None
    return id_


def error_reply(exc: RpcError, id_: Any, method: str) -> ErrorResponse:
    """The error reply that carries ``exc`` to the caller of request ``id_``."""
    return ErrorResponse(id_, exc.code, exc.message, exc.data, method)


class PendingCall:
    """One of our calls, waiting for the peer's reply.

    Attributes:
        id: The request id we sent.
        method: The method called.
        timeout: The call's timeout in seconds (``None``: none).
        deadline: When it expires, on the clock the driver passes in.
        waiter: The driver's object for whoever waits (a future, say).
        reply: The peer's Response or ErrorResponse, once it arrived.
        items: Stream items received and not yet consumed (streams only).
        window: The credit granted up front (streams only).
    """

    __slots__ = (
        "_consumed",
        "deadline",
        "id",
        "items",
        "method",
        "reply",
        "timeout",
        "waiter",
        "window",
    )

    def __init__(
        self, id_: int, method: str, timeout: float | None, deadline: float | None, waiter: Any
    ) -> None:
        self.id = id_
        self.method = method
        self.timeout = timeout
        self.deadline = deadline
        self.waiter = waiter
        self.reply: Response | ErrorResponse | None = None
        self.items: deque[Any] | None = None
        self.window = 0
        self._consumed = 0


class ServedCall:
    """One of the peer's calls whose handler runs (in a driver's task).

    Attributes:
        id: The request id as the peer sent it (:data:`NO_REPLY` for a notification).
        method: The method called.
        token: The driver's object for the running handler (its task).
        credit: Items the consumer accepts now, for a stream (``None``: no window).
        waker: The driver's object to wake a producer waiting for credit.
    """

    __slots__ = ("credit", "id", "method", "token", "waker")

    def __init__(self, id_: Any, method: str, token: Any, credit: int | None) -> None:
        self.id = id_
        self.method = method
        self.token = token
        self.credit = credit
        self.waker: Any = None


class AckWait:
    """A reply we sent, waiting for the peer's acknowledgement.

    Attributes:
        id: The id of the reply.
        waiter: The driver's object for whoever waits.
        values: What the acknowledgement carried, once it arrived.
    """

    __slots__ = ("id", "values", "waiter")

    def __init__(self, id_: Any, waiter: Any) -> None:
        self.id = id_
        self.waiter = waiter
        self.values: tuple[Any, ...] = ()


@dataclass(slots=True)
class ItemReceived:
    """A stream item arrived for ``call`` (it is at the end of ``call.items``)."""

    call: PendingCall


@dataclass(slots=True)
class CreditReceived:
    """The consumer of the stream that ``served`` produces granted more credit."""

    served: ServedCall


@dataclass(slots=True)
class CancelReceived:
    """The peer gave up on ``served``: stop its handler, send nothing more for it."""

    served: ServedCall


#: What :meth:`RpcProtocol.receive` returns: a call of the peer's to run (Request,
#: Notification, Batch), one of ours settled (PendingCall), an acknowledgement that
#: arrived (AckWait), a stream or cancel event, a frame that was not a message
#: (Malformed, already answered), or None (nothing to do).
ProtocolEvent = (
    Request
    | Notification
    | Batch
    | PendingCall
    | AckWait
    | ItemReceived
    | CreditReceived
    | CancelReceived
    | Malformed
    | None
)


class RpcProtocol:
    """The call state of one connection, in either role (see the module rules).

    Args:
        dialect: The connection's wire dialect (an :class:`AutoDialect` detects
            it from the peer's first frame).
        max_in_flight: The peer's calls whose handlers may run at once; the
            driver stops reading at this number.
        max_batch: Largest batch accepted.
        max_reply_size: Largest encoded reply sent (``None``: no limit).

    Attributes:
        dialect: The wire dialect.
        known: Whether the dialect is settled: false until an auto-detected
            peer's first frame.
        in_flight: The peer's calls whose handlers run now.
        closed: Whether :meth:`connection_lost` was called.
    """

    __slots__ = (
        "_acks",
        "_deadlines",
        "_ids",
        "_outbox",
        "_serving",
        "closed",
        "dialect",
        "in_flight",
        "known",
        "max_batch",
        "max_in_flight",
        "max_reply_size",
        "next_deadline",
        "pending",
    )

    def __init__(
        self,
        dialect: Dialect,
        *,
        max_in_flight: int = 64,
        max_batch: int = 100,
        max_reply_size: int | None = 4 * 2**20,
    ) -> None:
        self.dialect = dialect
        self.known = not isinstance(dialect, AutoDialect)
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self.max_reply_size = max_reply_size
        self.in_flight = 0
        self.closed = False
        self.pending: dict[int, PendingCall] = {}
        """Our calls waiting for a reply, by id."""
        self.next_deadline = math.inf
        """No pending call's deadline falls before this (``math.inf``: none); see :meth:`expire`."""
        self._ids = itertools.count(1)
        self._outbox: list[bytes] = []
        # Allocated on first use: most connections never need them.
        self._deadlines: dict[int, PendingCall] | None = None
        self._serving: dict[Any, ServedCall] | None = None
        self._acks: dict[Any, AckWait] | None = None

    # -- frames out ---------------------------------------------------------------

    def data_to_send(self) -> list[bytes]:
        """Return the frames queued since the last call, in order, and forget them."""
        out = self._outbox
        if out:
            self._outbox = []
        return out

    @property
    def busy(self) -> bool:
        """Whether the peer's calls fill every handler slot (the driver stops reading)."""
        return self.in_flight >= self.max_in_flight

    # -- receiving ----------------------------------------------------------------

    def receive(self, frame: bytes | str) -> ProtocolEvent:
        """Take one message received from the peer; return what the driver must do.

        Never raises for anything the peer sends.
        """
        event: Any = self.dialect.decode(frame)
        self.known = True
        kind = type(event)
        if kind is Request or kind is Notification:
            return event  # type: ignore[no-any-return]
        if kind is Response or kind is ErrorResponse:
            return self.settle(event)
        if kind is StreamItem:
            call = self.pending.get(key_of(event.id))
            if call is None or call.items is None:
                return None
            call.items.append(event.item)
            return ItemReceived(call)
        if kind is Credit:
            served = self._served(event.id)
            if served is None or served.credit is None:
                return None
            served.credit += event.credit
            return CreditReceived(served)
        if kind is Cancel:
            served = self._served(event.id)
            return None if served is None else CancelReceived(served)
        if kind is Acknowledge:
            acks = self._acks
            wait = None if acks is None else acks.pop(key_of(event.id), None)
            if wait is None:
                return None  # nobody waits for it (legacy instruction 1, §1.2): ignored
            wait.values = event.values
            return wait
        if kind is Batch:
            if len(event.items) > self.max_batch:
                error = InvalidRequest(f"a batch may hold at most {self.max_batch} messages")
                self._outbox.append(self.dialect.encode(error_reply(error, None, "")))
                return None
            return event  # type: ignore[no-any-return]
        assert kind is Malformed
        if event.reply is not None:
            self._queue_reply(event.reply)
        return event  # type: ignore[no-any-return]

    def settle(self, event: Response | ErrorResponse) -> PendingCall | None:
        """Settle one of our calls with the peer's reply (also one found in a batch)."""
        id_ = event.id
        call = self.pending.pop(id_ if type(id_) is int else key_of(id_), None)
        if call is None:
            logger.debug("reply to an unknown or expired call id %r", id_)
            return None
        if call.deadline is not None:
            self._undeadline(call)
        call.reply = event
        if self.dialect.acks:
            # The caller confirms every reply (v2 SYN_ACK, §2.4); its sender may wait for it.
            self._outbox.append(self.dialect.encode(Acknowledge(id_, (), event.method)))
        return call

    # -- our calls ------------------------------------------------------------------

    def send_request(
        self,
        method: str,
        params: list[Any] | dict[str, Any] | None,
        waiter: Any,
        *,
        timeout: float | None = None,
        now: float = 0.0,
        window: int | None = None,
    ) -> PendingCall:
        """Queue a request; return the call that waits for its reply.

        Args:
            method: The method to call.
            params: Its params as they go on the wire.
            waiter: The driver's object for whoever waits for the reply.
            timeout: Seconds until the call expires (``None``: never). Dialects with
                extensions send it with the request (the peer's deadline).
            now: The current time, on the clock later passed to :meth:`expire`.
            window: Expect a stream, granting this credit up front.

        Raises:
            TypeError: the params have no wire form in the dialect (nothing is queued).
        """
        id_ = next(self._ids)
        dialect = self.dialect
        frame = dialect.encode(
            Request(id_, method, params, timeout if dialect.extensions else None, window)
        )
        deadline = None if timeout is None else now + timeout
        call = PendingCall(id_, method, timeout, deadline, waiter)
        if window is not None:
            call.items = deque()
            call.window = window
        self.pending[id_] = call
        if deadline is not None:
            deadlines = self._deadlines
            if deadlines is None:
                deadlines = self._deadlines = {}
            deadlines[id_] = call
            if deadline < self.next_deadline:
                self.next_deadline = deadline
        self._outbox.append(frame)
        return call

    def send_notification(self, method: str, params: list[Any] | dict[str, Any] | None) -> None:
        """Queue a notification.

        Raises:
            TypeError: the params have no wire form in the dialect.
        """
        self._outbox.append(self.dialect.encode(Notification(method, params)))

    def forget(self, call: PendingCall, *, cancel: bool = False) -> None:
        """The caller no longer waits for ``call``; with ``cancel``, tell the peer.

        The cancel notification goes out only on dialects that have one, only
        while the call is unsettled and the connection open.
        """
        settled = self.pending.pop(call.id, None) is None
        if call.deadline is not None:
            self._undeadline(call)
        if cancel and not settled and not self.closed and self.dialect.extensions:
            self._outbox.append(self.dialect.encode(Cancel(call.id)))

    def _undeadline(self, call: PendingCall) -> None:
        deadlines = self._deadlines
        if deadlines is not None:
            deadlines.pop(call.id, None)
            if not deadlines:
                self.next_deadline = math.inf

    def consumed(self, call: PendingCall) -> None:
        """The application consumed one item of stream ``call``; grant credit when due."""
        call._consumed += 1
        if call._consumed >= max(1, call.window // 2):
            credit, call._consumed = call._consumed, 0
            if call.id in self.pending and not self.closed:
                self._outbox.append(self.dialect.encode(Credit(call.id, credit)))

    def expire(self, now: float) -> list[PendingCall]:
        """Fail the calls whose deadline is at or before ``now``; return them.

        They are no longer pending (their ``reply`` stays ``None``), and
        :attr:`next_deadline` moves to the next one.
        """
        deadlines = self._deadlines
        if not deadlines or now < self.next_deadline:
            return []
        expired = []
        earliest = math.inf
        for id_, call in list(deadlines.items()):
            deadline: float = call.deadline  # type: ignore[assignment]
            if deadline <= now:
                del deadlines[id_]
                if self.pending.pop(id_, None) is not None:
                    expired.append(call)
            elif deadline < earliest:
                earliest = deadline
        self.next_deadline = earliest
        return expired

    # -- the peer's calls -----------------------------------------------------------

    def begin(self, id_: Any, method: str, token: Any, credit: int | None = None) -> ServedCall:
        """A handler for the peer's call ``id_`` starts (in the driver's ``token``).

        It counts in :attr:`in_flight` until :meth:`end`; with a usable id, a
        cancel or a stream credit from the peer finds it.
        """
        self.in_flight += 1
        served = ServedCall(id_, method, token, credit)
        if id_ is not NO_REPLY:
            key = key_of(id_)
            if key is not None:
                serving = self._serving
                if serving is None:
                    serving = self._serving = {}
                serving[key] = served
        return served

    def end(self, served: ServedCall) -> None:
        """The handler of ``served`` is done (whether or not it replied)."""
        self.in_flight -= 1
        serving = self._serving
        if serving and served.id is not NO_REPLY:
            key = key_of(served.id)
            if serving.get(key) is served:
                del serving[key]

    def served(self) -> list[ServedCall]:
        """The peer's calls with a usable id whose handlers run now."""
        return [] if self._serving is None else list(self._serving.values())

    def _served(self, id_: Any) -> ServedCall | None:
        serving = self._serving
        return None if serving is None else serving.get(key_of(id_))

    def send_reply(self, reply: Response | ErrorResponse) -> BaseException | None:
        """Queue the reply to one of the peer's requests (see the module rules).

        Returns:
            None, or the error that kept the reply (a result, or an error's
            message or data) from being encoded: the driver then sends an
            internal error in its place, so that the caller is answered.
        """
        try:
            self._queue_reply(reply)
        except (TypeError, ValueError) as exc:
            return exc
        return None

    def _queue_reply(self, reply: Response | ErrorResponse) -> None:
        frame = self.dialect.encode(reply)
        limit = self.max_reply_size
        if limit is not None and len(frame) > limit and type(reply) is Response:
            frame = self.dialect.encode(_too_large(reply, len(frame)))
        self._outbox.append(frame)

    def send_item(self, served: ServedCall, item: Any) -> None:
        """Queue one item of the stream that answers ``served``, spending one credit.

        Raises:
            TypeError: the item has no wire form in the dialect.
        """
        self._outbox.append(self.dialect.encode(StreamItem(served.id, item)))
        if served.credit is not None:
            served.credit -= 1

    def send_batch(
        self, replies: list[Response | ErrorResponse]
    ) -> list[tuple[Response | ErrorResponse, BaseException]]:
        """Queue the replies to a batch as one frame (nothing when there are none).

        Returns:
            The replies that could not be encoded, each with the reason; each
            went out as an internal error instead (the driver logs them).
        """
        if not replies:
            return []
        encode = self.dialect.encode
        failed: list[tuple[Response | ErrorResponse, BaseException]] = []
        fitted = list(replies)
        sizes: list[int] = []
        for i, reply in enumerate(replies):
            try:
                sizes.append(len(encode(reply)))
            except (TypeError, ValueError) as exc:
                failed.append((reply, exc))
                fitted[i] = error_reply(InternalError(), reply.id, reply.method)
                sizes.append(len(encode(fitted[i])))
        limit = self.max_reply_size
        if limit is not None:  # the largest results become ResponseTooLarge until all fit
            total = sum(sizes) + len(sizes) + 1  # commas and brackets
            for i in sorted(range(len(fitted)), key=sizes.__getitem__, reverse=True):
                if total <= limit:
                    break
                reply = fitted[i]
                if type(reply) is Response:
                    fitted[i] = _too_large(reply, sizes[i])
                    total += len(encode(fitted[i])) - sizes[i]
        self._outbox.append(self.dialect.encode_batch(fitted))
        return failed

    def expect_ack(self, id_: Any, waiter: Any) -> AckWait:
        """Wait for the peer to acknowledge our reply to ``id_`` (dialects with ``acks``)."""
        wait = AckWait(id_, waiter)
        acks = self._acks
        if acks is None:
            acks = self._acks = {}
        acks[key_of(id_)] = wait
        return wait

    def forget_ack(self, wait: AckWait) -> None:
        """No longer wait for the acknowledgement ``wait``."""
        acks = self._acks
        if acks and acks.get(key_of(wait.id)) is wait:
            del acks[key_of(wait.id)]

    def encode(self, event: Outgoing) -> bytes:
        """Encode one event in the connection's dialect (for a message sent as is)."""
        return self.dialect.encode(event)

    # -- the end ------------------------------------------------------------------

    def connection_lost(self) -> tuple[list[PendingCall], list[AckWait], list[ServedCall]]:
        """The connection ended: return what waited on it, and forget it all.

        Returns:
            Our pending calls, the replies waiting for an acknowledgement, and
            the peer's calls whose handlers still run (the driver fails the
            first two and stops the third).
        """
        self.closed = True
        calls = list(self.pending.values())
        acks = [] if self._acks is None else list(self._acks.values())
        served = self.served()
        self.pending.clear()
        self._deadlines = self._acks = None
        self.next_deadline = math.inf
        self._outbox = []
        return calls, acks, served


def _too_large(reply: Response, size: int) -> ErrorResponse:
    logger.warning("the result of %r is %d bytes, over the limit", reply.method, size)
    return error_reply(ResponseTooLarge(), reply.id, reply.method)
