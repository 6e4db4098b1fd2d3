"""Flow-controlled streams: the producer side (server) and the consumer side (client).

Rules of this module (the wire messages are in ``dialects/jsonrpc.py``):

* The consumer grants a window of ``credit`` items with its request, and more
  credit as the application consumes items. The producer pulls the next item
  from the handler only while it holds credit, so at any time at most
  ``window`` items have been produced and not yet consumed: a slow consumer
  slows the producer, and neither side buffers more than the window.
* The stream ends with the request's ordinary response (end) or error response
  (failure), which the consumer sees only after every item before it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["InStream", "OutStream"]


class OutStream:
    """The producer's view of one stream: how many items it may still send.

    Attributes:
        credit: Items the consumer will accept now; ``None`` when the consumer
            sent no window (then only the transport's backpressure applies).
        sent: Items sent so far.
    """

    __slots__ = ("_more", "credit", "sent")

    def __init__(self, credit: int | None) -> None:
        self.credit = credit
        self.sent = 0
        self._more = asyncio.Event()

    def grant(self, credit: int) -> None:
        """The consumer accepts ``credit`` more items."""
        if self.credit is not None:
            self.credit += credit
            self._more.set()

    async def wait_credit(self) -> None:
        """Wait until one more item may be sent."""
        while self.credit is not None and self.credit <= 0:
            self._more.clear()
            await self._more.wait()

    def spent(self) -> None:
        """One item was sent."""
        self.sent += 1
        if self.credit is not None:
            self.credit -= 1


class InStream:
    """The consumer's view of one stream: items received and not yet consumed.

    Attributes:
        window: The credit granted up front; credit is replenished in batches of
            half a window as items are consumed.
    """

    __slots__ = ("_changed", "_consumed", "items", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.items: deque[Any] = deque()
        self._consumed = 0
        self._changed = asyncio.Event()

    def push(self, item: Any) -> None:
        """An item arrived."""
        self.items.append(item)
        self._changed.set()

    def wake(self) -> None:
        """The stream ended (or failed): wake the consumer."""
        self._changed.set()

    async def wait(self) -> None:
        """Wait until an item arrives or the stream ends."""
        self._changed.clear()
        await self._changed.wait()

    def consumed(self) -> int:
        """Count one consumed item; return the credit to grant now (0 for none yet)."""
        self._consumed += 1
        if self._consumed >= max(1, self.window // 2):
            credit, self._consumed = self._consumed, 0
            return credit
        return 0
