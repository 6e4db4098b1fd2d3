"""The ``wsrpc`` command: serve (readiness line, graceful signals) and call."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from tests.conftest import UNIT
from tests.helpers.processes import ROOT, start_listening

WSRPC = [sys.executable, "-m", "wsrpc_typed.cli"]


async def start_server(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    return await start_listening(*WSRPC, "serve", *args)


@pytest.fixture
async def served() -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    proc, url = await start_server("examples.primes.service:router", "--port", "0")
    yield proc, url
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *WSRPC, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), UNIT * 2)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_call_prints_result_as_json(served: tuple[asyncio.subprocess.Process, str]) -> None:
    _, url = served
    code, out, _ = await run_cli("call", url, "computePrimes", '{"n": 20}')
    assert (code, json.loads(out)) == (0, [2, 3, 5, 7, 11, 13, 17, 19])
    code, out, _ = await run_cli("call", url, "isPrime", "[7]")
    assert (code, out.strip()) == (0, "true")


async def test_call_prints_error_and_exits_1(
    served: tuple[asyncio.subprocess.Process, str],
) -> None:
    _, url = served
    code, out, err = await run_cli("call", url, "computePrimes", '{"n": -5}')
    assert code == 1 and out == ""
    error = json.loads(err)["error"]
    assert error["code"] == -32602 and error["data"][0]["loc"] == ["n"]
    code, _, err = await run_cli("call", url, "missing")
    assert code == 1 and json.loads(err)["error"]["code"] == -32601


async def test_call_to_nowhere_exits_1() -> None:
    code, _, err = await run_cli("call", "ws://127.0.0.1:9", "add", "[1, 2]")
    assert code == 1 and err.startswith("error:")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_serve_shuts_down_gracefully_on_signals(sig: signal.Signals) -> None:
    proc, url = await start_server("examples.primes.service:router", "--port", "0")
    code, out, _ = await run_cli("call", url, "isPrime", "[5]")
    assert (code, out.strip()) == (0, "true")
    proc.send_signal(sig)
    assert await asyncio.wait_for(proc.wait(), UNIT * 2) == 0


async def test_serve_reports_a_taken_port(served: tuple[asyncio.subprocess.Process, str]) -> None:
    _, url = served
    port = url.rsplit(":", 1)[1]
    code, _, err = await run_cli("serve", "examples.primes.service:router", "--port", port)
    assert code == 1 and "cannot listen" in err


@pytest.mark.parametrize(
    "target", ["nocolon", "no.such.module:router", "examples.primes.service:missing"]
)
async def test_serve_rejects_bad_targets(target: str) -> None:
    code, _, err = await run_cli("serve", target, "--port", "0")
    assert code == 2 and "Invalid value" in err
