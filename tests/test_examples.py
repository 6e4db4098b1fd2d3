"""Every example runs: its server under ``wsrpc serve`` and its client against it."""

from __future__ import annotations

import asyncio
import signal
import sys

from tests.conftest import UNIT
from tests.helpers.processes import ROOT, start_listening


async def test_primes_example_end_to_end() -> None:
    server, url = await start_listening(
        *(sys.executable, "-m", "wsrpc_typed.cli", "serve", "examples.primes.service:router"),
        *("--port", "0"),
    )
    try:
        client = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "examples.primes.client", url),
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
