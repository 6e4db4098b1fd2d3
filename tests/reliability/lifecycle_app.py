"""The router that ``wsrpc serve`` runs in a subprocess for the lifecycle and load cases.

``wsrpc serve tests.reliability.lifecycle_app:router --port 0``. Its handlers
count themselves, so a test can ask the server process how many calls are
running before it sends a signal; at exit the process prints, on stderr, one
line ``lifecycle_app naps: {...}`` with how each ``nap`` ended, so a test can
check that a refused call never ran.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import sys

from wsrpc_typed import Router

__all__ = ["router"]

router = Router()
_running = 0
_naps: dict[str, str] = {}  # tag -> "started", "finished" or "cancelled"


@router.method
async def echo(value: object = None) -> object:
    """Return the value: each caller checks it got its own reply back."""
    return value


@router.method
async def nap(seconds: float, tag: str = "") -> str:
    """Sleep, then return ``tag``; counted in :func:`running` while it sleeps."""
    global _running
    _running += 1
    _naps[tag] = "started"
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        _naps[tag] = "cancelled"
        raise
    finally:
        _running -= 1
    _naps[tag] = "finished"
    return tag


@router.method
async def running() -> int:
    """How many :func:`nap` calls are in progress."""
    return _running


@atexit.register
def _report() -> None:
    print(f"lifecycle_app naps: {json.dumps(_naps)}", file=sys.stderr, flush=True)
