"""Seed-style messages: ``rpc.on("name", handler)`` where ``await message.reply(...)`` answers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .dialects.events import Dialect, ErrorResponse, Response
from .errors import AckTimeout, ConnectionClosed, InternalError, RpcError
from .logs import current_call
from .protocol import NO_REPLY, AckWait

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["NO_REPLY", "Message", "Replier", "SeedHandler", "passes_through"]

#: A seed-style handler: gets the Message, answers with ``await message.reply(...)``.
SeedHandler = Callable[["Message"], Any]


class Replier(Protocol):
    """What a :class:`Message` uses of its connection: replying, and v2 acknowledgements.

    :class:`~wsrpc_typed.Connection` is one; the message reaches its connection
    through this interface only (``message.connection`` is the whole connection,
    for the handler's use).
    """

    @property
    def dialect(self) -> Dialect:
        """The wire dialect (its ``acks`` says whether replies are acknowledged)."""
        ...

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        ...

    ack_timeout: float
    id: str
    """The connection's id (log records name it)."""

    async def send_reply(self, reply: Response | ErrorResponse, /) -> None:
        """Send a reply to one of the peer's requests."""
        ...

    def expect_ack(self, id_: Any, /) -> AckWait:
        """Start waiting for the acknowledgement of the reply to ``id_``."""
        ...

    def forget_ack(self, wait: AckWait, /) -> None:
        """Stop waiting for it."""
        ...

    def report(self, exc: BaseException, /) -> None:
        """Tell the error listeners about an unexpected failure."""
        ...


logger = logging.getLogger("wsrpc_typed")


def passes_through(exc: BaseException) -> bool:
    """Whether an exception out of a handler is not its failure, but ours to pass on.

    KeyboardInterrupt stops the program, and a CancelledError while the handler's
    task is being cancelled ends that task. Anything else is the handler failing,
    to be answered for: SystemExit (argparse raises it on bad input) and a
    CancelledError the handler raised on its own (``future.result()`` of a
    cancelled future) included.
    """
    if isinstance(exc, KeyboardInterrupt):
        return True
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0
    return False


class Message:
    """A request received by a seed-style handler (see :meth:`Connection.on`).

    Attributes:
        id: The request id, as the peer sent it (``None`` for a notification).
        method: The method (the seed's ``instruction`` / ``command``).
        args: The positional arguments (named params arrive as one dict argument).
        connection: The connection it arrived on.
    """

    __slots__ = (
        "_collect",
        "args",
        "collected",
        "connection",
        "id",
        "method",
        "notification",
        "replied",
    )

    def __init__(
        self,
        connection: Connection,
        id_: Any,
        method: str,
        params: list[Any] | dict[str, Any] | None,
        *,
        collect: bool = False,
    ) -> None:
        self.connection = connection
        # In a JSON-RPC batch the reply is kept (in ``collected``) for the batch's reply.
        self._collect = collect
        self.collected: Response | ErrorResponse | None = None
        self.notification = id_ is NO_REPLY
        self.id = None if self.notification else id_
        self.method = method
        self.args: list[Any] = (
            params if type(params) is list else ([] if params is None else [params])
        )
        self.replied = False

    async def reply(self, *values: Any) -> tuple[Any, ...]:
        """Send the reply values to the caller.

        When it resolves depends on the dialect:

        * **v2** (ws-promise): once the caller acknowledges the reply (SYN_ACK);
          returns the values the acknowledgement carried.
        * **legacy** and **JSON-RPC**: once the reply frame is handed to the
          socket (neither protocol acknowledges replies; the original legacy
          clients never send their acknowledgement); returns ``()``.

        A notification has nobody to answer: replying to one sends nothing and
        returns ``()`` at once, so one handler can serve both.

        Raises:
            AckTimeout: no acknowledgement within ``connection.ack_timeout`` (v2).
            ConnectionClosed: the connection ended before the reply was sent or acknowledged.
            RuntimeError: the message was already replied to.
        """
        if self.notification:
            return ()
        if self.replied:
            raise RuntimeError(f"the request {self.id!r} ({self.method!r}) was already replied to")
        self.replied = True
        conn: Replier = self.connection
        if self._collect:
            self.collected = Response(self.id, values, self.method)
            return ()
        reply = Response(self.id, values, self.method)
        if not conn.dialect.acks:
            await conn.send_reply(reply)
            return ()
        wait = conn.expect_ack(self.id)
        ack: asyncio.Future[tuple[Any, ...]] = wait.waiter
        try:
            await conn.send_reply(reply)
            async with asyncio.timeout(conn.ack_timeout):
                return await ack
        except TimeoutError:
            raise AckTimeout(
                f"the caller did not acknowledge the reply to {self.method!r} "
                f"within {conn.ack_timeout} s"
            ) from None
        finally:
            conn.forget_ack(wait)
            if ack.done() and not ack.cancelled():
                ack.exception()  # retrieved: when sending failed, the caller has that error

    async def run(self, handler: SeedHandler) -> None:
        """Run ``handler`` on this message; answer for it if it does not reply.

        A handler that returns without replying sends an empty reply, so the
        caller never hangs; one that raises sends an error reply (opaque for
        anything but :class:`RpcError`).
        """
        replier: Replier = self.connection
        current_call.set((replier.id, self.id))
        try:
            outcome = handler(self)
            if inspect.isawaitable(outcome):
                await outcome
        except RpcError as exc:
            await self._fail(exc)
        except BaseException as exc:
            if passes_through(exc):
                raise
            if isinstance(exc, ConnectionClosed) and replier.closed:
                return  # the caller is gone (so is its acknowledgement): no one to answer
            logger.error(
                "seed handler for %r failed (request id %r)",
                self.method,
                self.id,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            replier.report(exc)
            await self._fail(InternalError())
        else:
            if not self.replied and not self.notification:
                self.replied = True
                await self._answer(Response(self.id, (), self.method))

    async def _fail(self, exc: RpcError) -> None:
        if self.replied or self.notification:
            return
        self.replied = True
        await self._answer(ErrorResponse(self.id, exc.code, exc.message, exc.data, self.method))

    async def _answer(self, reply: Response | ErrorResponse) -> None:
        if self._collect:
            self.collected = reply
        else:
            replier: Replier = self.connection
            with contextlib.suppress(ConnectionClosed):
                await replier.send_reply(reply)
