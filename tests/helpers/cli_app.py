"""A router, an authenticate hook and an interceptor factory for the ``wsrpc`` command's tests.

``wsrpc serve tests.helpers.cli_app:router --authenticate tests.helpers.cli_app:authenticate
--interceptor tests.helpers.cli_app:refuse_blocked`` serves all three.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from wsrpc_typed import Context, Router, RpcError
from wsrpc_typed.errors import Rejected
from wsrpc_typed.interceptors import Call, Interceptor, Proceed
from wsrpc_typed.security import Handshake

router = Router(title="CLI test", version="1.0.0")
log = logging.getLogger("cli_app")

#: The handshake headers ``authenticate`` saw last (in-process servers only).
seen_headers: list[dict[str, str]] = []
#: Set when a ``forever`` stream is cancelled (in-process servers only).
stream_cancelled = asyncio.Event()

TOKEN = "s3cret"


class Blocked(RpcError):
    """The interceptor refused the call."""

    code = 4030


@router.method
async def echo(text: str, ctx: Context) -> str:
    """Return ``text``, logging it with the application's own logger."""
    log.info("echo %s from %s", text, ctx.identity)
    return text


@router.method
async def blocked() -> None:
    """A method the interceptor refuses."""


@router.method
async def count(n: int) -> AsyncIterator[int]:
    """Yield 0 .. n-1."""
    for i in range(n):
        yield i


@router.method
async def forever() -> AsyncIterator[int]:
    """Yield 0, 1, 2, ... every 10 ms until cancelled."""
    i = 0
    try:
        while True:
            yield i
            i += 1
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        stream_cancelled.set()
        raise


def authenticate(handshake: Handshake) -> str:
    """Admit ``Authorization: Bearer s3cret`` as user ``alice``; refuse anyone else."""
    seen_headers.append(dict(handshake.headers))
    if handshake.headers.get("authorization") != f"Bearer {TOKEN}":
        raise Rejected(401, "a valid token is required")
    return "alice"


def refuse_blocked() -> Interceptor:
    """An interceptor that answers ``blocked`` with an error instead of running it."""

    async def interceptor(call: Call, proceed: Proceed) -> Any:
        if call.method == "blocked":
            raise Blocked("blocked by the interceptor")
        return await proceed()

    return interceptor
