"""Caps on calls in flight: ours to the peer (per connection), and handlers (per server)."""

from __future__ import annotations

import asyncio
import collections
import contextlib

__all__ = ["CallBudget", "CallWindow"]


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
