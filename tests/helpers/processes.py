"""Programs under test, started as a user starts them."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.conftest import UNIT

ROOT = Path(__file__).resolve().parent.parent.parent


async def start_listening(*argv: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start a program that prints its ``ws://`` URL once it listens; return it and the URL.

    The printed line is the readiness signal: no fixed ports, no sleeps.
    """
    proc = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), UNIT * 2)).decode()
    match = re.search(r"ws://127\.0\.0\.1:\d+", line)
    assert match, line
    return proc, match.group(0)
