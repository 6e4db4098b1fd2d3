"""What both directions of a connection share: its state, its facts, sending, tasks.

A :class:`~wsrpc_typed.connection.Connection` is assembled from three parts:

* :class:`Endpoint` (this module): the connection's state, the facts about it,
  sending frames, and the bookkeeping of its tasks;
* :class:`~wsrpc_typed.calling.Calling`: our calls to the peer;
* :class:`~wsrpc_typed.serving.Serving`: the peer's calls to us.

The reader that routes each frame to one of them, and the connection's end,
are in ``connection.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .dialects.detect import AutoDialect
from .errors import ConnectionClosed
from .interceptors import Interceptor
from .limits import CallBudget, CallWindow
from .message import NO_REPLY
from .security import scopes_of
from .streams import InStream, OutStream
from .transport import describe_close

if TYPE_CHECKING:
    from .dialects.events import Dialect, Outgoing
    from .message import Message
    from .registry import Router
    from .transport import PullTransport

__all__ = ["Endpoint", "SeedHandler"]

logger = logging.getLogger("wsrpc_typed")

T = TypeVar("T")
#: A seed-style handler: gets the Message, answers with ``await message.reply(...)``.
SeedHandler = Callable[["Message"], Any]
ErrorCallback = Callable[[BaseException], None]


def _key(id_: Any) -> Any:
    """A request id usable as a dict key (seed dialects allow any JSON value as an id)."""
    try:
        hash(id_)
    except TypeError:
        return None
    return id_


class Endpoint:
    """The state of one connection and what both directions use (see the module docs)."""

    def __init__(
        self,
        transport: PullTransport,
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
