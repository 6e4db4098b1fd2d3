"""Every example runs: its server under ``wsrpc serve`` and its client against it."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

from tests.conftest import UNIT

ROOT = Path(__file__).resolve().parent.parent


async def test_primes_example_end_to_end() -> None:
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "wsrpc_typed.cli", "serve", "examples.primes.service:router"),
        *("--port", "0"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        line = (await asyncio.wait_for(server.stdout.readline(), UNIT * 2)).decode()
        match = re.search(r"ws://127\.0\.0\.1:\d+", line)
        assert match, line
        client = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "examples.primes.client", match.group(0)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(client.communicate(), UNIT * 4)
        assert client.returncode == 0
        text = out.decode()
        assert "primes below 50: [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]" in text
        assert "is 97 prime? True" in text
        assert "primes below 1,000,000: 78,498, the largest 999,983" in text
        assert "stats(20,000,000) was refused: [1001] Limit too large" in text
        assert "computePrimes(-1) was refused: [-32602]" in text
    finally:
        server.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(server.wait(), UNIT * 2) == 0
