"""Waiting for a condition in tests without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.conftest import UNIT


async def eventually(predicate: Callable[[], object], timeout: float = UNIT) -> float:
    """Poll ``predicate`` until it is true; return how long that took.

    Raises:
        AssertionError: it did not become true within ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)
    return loop.time() - start
