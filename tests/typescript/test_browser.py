"""The chat page in a real browser: headless Chromium (Debian's ``chromium``, driven by npm
``puppeteer-core``) loads it from the example's server on 127.0.0.1, joins, chats with a
Python member, receives a broadcast and answers the server's ``confirm`` call.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from examples.chat.client_generated import ChatClient, ChatMessage, register_handlers
from tests.conftest import UNIT
from tests.helpers.processes import start_listening
from tests.helpers.waiting import eventually
from tests.typescript.tools import HERE, node
from wsrpc_typed import Router, connect

pytestmark = pytest.mark.timeout(180)


class Member:
    """A Python member of the room: keeps what the server pushes, declines to clear."""

    def __init__(self) -> None:
        self.received: list[ChatMessage] = []

    async def message(self, *, message: ChatMessage) -> None:
        self.received.append(message)

    async def confirm(self, *, question: str) -> bool:
        return False


def png_colors(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct pixel values of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        header = body if kind == b"IHDR" else header
        chunks += body if kind == b"IDAT" else b""
        offset += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6), (depth, color)
    size = 3 if color == 2 else 4
    raw = zlib.decompress(chunks)
    stride = width * size + 1
    # Filtered rows: the values differ from the pixels, but a blank picture stays uniform.
    rows = {raw[i * stride + 1 : (i + 1) * stride] for i in range(height)}
    values = {row[j : j + size] for row in rows for j in range(0, len(row), size)}
    return width, height, len(values)


async def test_chat_page_in_headless_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium is not None, "install Debian's chromium (./scripts/test does, as root)"
    server, url = await start_listening(
        sys.executable,
        "-m",
        "examples.chat.server",
        "--port",
        "0",
        "--web-port",
        "0",
        "--announce-every",
        "0.5",
    )
    assert server.stdout is not None
    page_line = (await asyncio.wait_for(server.stdout.readline(), UNIT * 2)).decode()
    assert page_line.startswith("chat page on http://127.0.0.1:"), page_line
    page_url = page_line.split(" on ", 1)[1].strip()
    screenshot = tmp_path / "chat.png"
    bob = Member()
    results: dict[str, Any] = {}
    browser = None
    try:
        async with connect(url, router=register_handlers(Router(), bob)) as conn:
            chat = ChatClient(conn)
            assert await chat.join(room="lobby", name="bob") == ["bob"]
            browser = await asyncio.create_subprocess_exec(
                node(),
                str(HERE / "browser" / "chat_page.mjs"),
                page_url,
                chromium,
                str(screenshot),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                # Chromium's profile and caches go to the test's folder.
                env={
                    **os.environ,
                    "WAIT_MS": str(int(UNIT * 4000)),
                    "HOME": str(tmp_path),
                },
            )
            assert browser.stdin and browser.stdout and browser.stderr
            while True:
                line = await asyncio.wait_for(browser.stdout.readline(), UNIT * 8)
                if not line:
                    break
                (name, value), *_ = json.loads(line).items()
                results[name] = value
                if name == "joined":
                    # The page's message reached this member through the server.
                    await eventually(lambda: any(m.sender == "ann" for m in bob.received))
                    await chat.say(room="lobby", text="hi ann")
                    browser.stdin.write(b"said\n")
                    await browser.stdin.drain()
            returncode = await asyncio.wait_for(browser.wait(), UNIT * 4)
            errors = (await browser.stderr.read()).decode()
    finally:
        if browser is not None and browser.returncode is None:
            browser.kill()
            await browser.wait()
        server.send_signal(signal.SIGINT)
        await asyncio.wait_for(server.wait(), UNIT * 2)
    assert returncode == 0, (results, errors)

    assert results["joined"] == "In lobby as ann, with bob."
    assert [m.text for m in bob.received if m.sender == "ann"] == ["hello from the browser"]
    page = results["page"]
    assert page["problems"] == []
    shown = [(item["sender"], item["text"]) for item in page["shown"]]
    assert ("ann", "annhello from the browser") in shown
    assert ("bob", "bobhi ann") in shown
    assert any(sender == "server" and "has been up for" in text for sender, text in shown)
    # clear: the server asked the page (confirm, a server-to-client call), which said yes.
    assert page["dialogs"] == ["Delete the 2 messages of lobby?"]
    assert page["cleared"] == "2"
    assert shown[-1] == (None, "Cleared 2 messages.")

    width, height, colors = png_colors(screenshot)
    assert (width, height) == (800, 600)
    assert colors > 50, "the screenshot looks blank"
