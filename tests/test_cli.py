"""The ``wsrpc`` command: serve (readiness line, graceful signals) and call."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

import pytest

from tests.conftest import UNIT
from tests.helpers.processes import ROOT, start_listening

WSRPC = [sys.executable, "-m", "wsrpc_typed.cli"]


# Runs ``wsrpc`` with a stdout that, once the ws:// line is out, holds the process until
# the test writes a line to stdin. A signal sent in that pause lands right after the
# announcement on every run, where by chance it would land only some of the time.
PAUSE_AFTER_ANNOUNCING = """
import io, sys
from wsrpc_typed.cli import main

class PauseAfterAnnouncing(io.TextIOWrapper):
    announced = paused = False

    def write(self, text):
        self.announced |= "ws://" in text
        return super().write(text)

    def flush(self):
        super().flush()
        if self.announced and not self.paused:
            self.paused = True
            sys.stdin.readline()

sys.stdout = PauseAfterAnnouncing(sys.stdout.detach(), line_buffering=True)
main()
"""


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
    # --no-validate: the server's answer (the check before sending is test_cli_client's).
    code, out, err = await run_cli("call", url, "computePrimes", '{"n": -5}', "--no-validate")
    assert code == 1 and out == ""
    error = json.loads(err)["error"]
    assert error["code"] == -32602 and error["data"][0]["loc"] == ["n"]
    code, _, err = await run_cli("call", url, "missing")
    assert code == 1 and json.loads(err)["error"]["code"] == -32601


def assert_one_line_error(out: str, err: str, fragment: str) -> None:
    """Expected failures print one ``error:`` line on stderr, nothing else."""
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert fragment in err and "Traceback" not in err


@pytest.mark.parametrize("url", ["not a url", "http://127.0.0.1:1", "ws://127.0.0.1:99999"])
async def test_call_with_a_bad_url_exits_1(url: str) -> None:
    code, out, err = await run_cli("call", url, "add", "[1, 2]")
    assert code == 1
    assert_one_line_error(out, err, "invalid URL")


async def test_call_to_a_port_with_nothing_listening_exits_1() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = await run_cli("call", f"ws://127.0.0.1:{port}", "add", "[1, 2]")
    assert code == 1
    assert_one_line_error(out, err, "cannot connect to")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"garbage\r\n\r\n", "did not receive a valid HTTP response"),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "HTTP 404"),
        (None, "timed out"),  # never answers: the handshake times out
    ],
)
async def test_call_to_a_server_that_is_not_websocket_exits_1(
    reply: bytes | None, reason: str
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if reply is None:
            await reader.read()
        else:
            writer.write(reply)
        writer.close()

    async with await asyncio.start_server(answer, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        code, out, err = await run_cli("call", url, "add", "[1, 2]", "--timeout", str(UNIT / 5))
    assert code == 1
    assert_one_line_error(out, err, f"cannot connect to {url}: ")
    assert reason in err


@pytest.mark.parametrize("params", ["{bad", '"a string"', "7"])
async def test_call_rejects_params_that_are_not_an_object_or_array(params: str) -> None:
    # Checked before connecting: the host cannot resolve, so connecting would exit 1, not 2.
    code, out, err = await run_cli("call", "ws://host.invalid", "add", params)
    assert code == 2
    assert_one_line_error(out, err, "PARAMS")


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["default", "sigint-ignored"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_serve_shuts_down_gracefully_on_signals(
    sig: signal.Signals, sigint_ignored: bool
) -> None:
    proc, url = await start_listening(
        *WSRPC,
        "serve",
        "examples.primes.service:router",
        "--port",
        "0",
        sigint_ignored=sigint_ignored,
    )
    code, out, _ = await run_cli("call", url, "isPrime", "[5]")
    assert (code, out.strip()) == (0, "true")
    proc.send_signal(sig)
    assert await asyncio.wait_for(proc.wait(), UNIT * 2) == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_serve_shuts_down_gracefully_on_a_signal_sent_as_it_announces(
    sig: signal.Signals,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", PAUSE_AFTER_ANNOUNCING),
        *("serve", "examples.primes.service:router", "--port", "0"),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), UNIT * 2)
        assert b"ws://127.0.0.1:" in line
        proc.send_signal(sig)
        _, err = await asyncio.wait_for(proc.communicate(b"go\n"), UNIT * 2)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()


async def test_serve_reports_a_taken_port(served: tuple[asyncio.subprocess.Process, str]) -> None:
    _, url = served
    port = url.rsplit(":", 1)[1]
    code, _, err = await run_cli("serve", "examples.primes.service:router", "--port", port)
    assert code == 1 and "cannot listen" in err


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("nocolon", "pkg.module:attr"),
        ("no.such.module:router", "cannot import 'no.such.module'"),
        ("examples.primes.service:missing", "has no 'missing'"),
    ],
)
async def test_serve_rejects_bad_targets(target: str, fragment: str) -> None:
    code, out, err = await run_cli("serve", target, "--port", "0")
    assert code == 2
    assert_one_line_error(out, err, fragment)


@pytest.mark.parametrize(
    ("words", "expected"),
    [("wsrpc de", ["describe"]), ("wsrpc serve --max-b", ["--max-batch"])],
)
async def test_shell_completion_completes_commands_and_options(
    words: str, expected: list[str]
) -> None:
    proc = await asyncio.create_subprocess_exec(
        *WSRPC,
        cwd=ROOT,
        env={
            **os.environ,
            "_WSRPC_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        },
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), UNIT * 2)
    assert (proc.returncode, out.decode().split()) == (0, expected)
