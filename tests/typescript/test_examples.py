"""The examples' TypeScript: generated clients current, the chat page's compiled modules
current, and the primes Node.js script run against the example's server.

Regenerate the checked-in files with ``WSRPC_UPDATE_GOLDEN=1 pytest tests/typescript``.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.codegen.helpers import check_golden
from tests.conftest import UNIT
from tests.helpers.processes import start_listening
from tests.typescript.test_tsc import example_router
from tests.typescript.tools import NODE_MODULES, ROOT, node, ts_source, tsc

pytestmark = pytest.mark.timeout(180)

WEB = ROOT / "examples" / "chat" / "web"
PRIMES = ROOT / "examples" / "primes" / "node"


def compiled(folder: Path, tmp_path: Path, sources: list[str]) -> Path:
    """``folder``'s sources compiled with its own tsconfig.json, in a copy under ``tmp_path``."""
    work = tmp_path / folder.name
    work.mkdir()
    for name in ["tsconfig.json", *sources]:
        shutil.copy(folder / name, work)
    (work / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    returncode, output, _ = tsc(work / "tsconfig.json")
    assert returncode == 0, output
    return work


def test_generated_typescript_clients_are_current() -> None:
    check_golden(WEB / "chat_client.ts", ts_source(example_router("chat"), "ChatClient"))
    check_golden(PRIMES / "primes_client.ts", ts_source(example_router("primes"), "PrimesClient"))


def test_chat_page_modules_are_compiled_from_their_sources(tmp_path: Path) -> None:
    work = compiled(WEB, tmp_path, ["app.ts", "chat_client.ts"])
    for name in ("app.js", "chat_client.js"):
        check_golden(WEB / name, (work / name).read_text())


async def test_primes_node_script(tmp_path: Path) -> None:
    work = compiled(PRIMES, tmp_path, ["primes.ts", "primes_client.ts"])
    (work / "dist" / "package.json").write_text('{"type": "module"}\n')
    server, url = await start_listening(
        sys.executable,
        "-m",
        "wsrpc_typed.cli",
        "serve",
        "examples.primes.service:router",
        "--port",
        "0",
    )
    try:
        run = await asyncio.create_subprocess_exec(
            node(),
            str(work / "dist" / "primes.js"),
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(run.communicate(), UNIT * 4)
    finally:
        server.send_signal(signal.SIGINT)
        await asyncio.wait_for(server.wait(), UNIT * 2)
    assert run.returncode == 0, err.decode()
    assert out.decode().splitlines() == [
        "primes below 50: 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47",
        "is 97 prime? true",
        "primes below 1000000: 78498, the largest 999983",
        'stats(20000000) was refused: [1001] Limit too large: {"maximum":10000000}',
        "computePrimes(-1) was refused: [-32602] Invalid params: "
        "Input should be greater than or equal to 0",
    ]


async def test_page_server_serves_its_files_only() -> None:
    from examples.chat.page import PageServer

    page = PageServer("ws://127.0.0.1:1", port=0)
    await page.open()

    async def ask(request: bytes) -> tuple[str, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", page.port)
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), UNIT)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        return head.split(b"\r\n", 1)[0].decode(), body

    try:
        status, body = await ask(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == "HTTP/1.1 200 OK" and b'<script type="module" src="app.js">' in body
        assert await ask(b"GET /config.json HTTP/1.1\r\n\r\n") == (
            "HTTP/1.1 200 OK",
            b'{"url": "ws://127.0.0.1:1"}',
        )
        assert (await ask(b"GET /../page.py HTTP/1.1\r\n\r\n"))[0] == "HTTP/1.1 404 Not Found"
        assert (await ask(b"GET /app.ts HTTP/1.1\r\n\r\n"))[0] == "HTTP/1.1 404 Not Found"
        assert (await ask(b"POST / HTTP/1.1\r\n\r\n"))[0] == "HTTP/1.1 405 Method Not Allowed"
        assert await ask(b"HEAD /app.js HTTP/1.1\r\n\r\n") == ("HTTP/1.1 200 OK", b"")
        assert page.origins == [f"http://127.0.0.1:{page.port}", f"http://localhost:{page.port}"]
    finally:
        await page.close()
