"""Programs under test, started as a user starts them."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

from tests.conftest import UNIT

ROOT = Path(__file__).resolve().parent.parent.parent


def ignore_sigint() -> None:
    """A ``preexec_fn``: the program starts with SIGINT ignored, as a background job of a
    script (or a process started under nohup) does; it must still stop on ``kill -INT``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


async def start_listening(
    *argv: str, sigint_ignored: bool = False
) -> tuple[asyncio.subprocess.Process, str]:
    """Start a program that prints its ``ws://`` URL once it listens; return it and the URL.

    The printed line is the readiness signal: no fixed ports, no sleeps.
    ``sigint_ignored``: start it with SIGINT ignored (see :func:`ignore_sigint`).
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=ignore_sigint if sigint_ignored else None,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), UNIT * 2)).decode()
    match = re.search(r"ws://127\.0\.0\.1:\d+", line)
    assert match, line
    return proc, match.group(0)
