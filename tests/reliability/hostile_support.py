"""Tools for the conformance and hostile-input cases (1-13): raw JSON-RPC sockets and frames.

The cases talk to the server the way an attacker would: through a bare
``websockets`` client (no wsrpc client to tidy up what goes on the wire), raw
TCP for handshakes, and hand-built WebSocket frames for what no well-behaved
library sends (a reserved bit set, a compressed frame no extension announced).
Every reply is parsed with :func:`strict_loads`, so nothing the server emits
may stray from RFC 8259.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.conftest import UNIT

__all__ = [
    "JSONRPC",
    "SCALE",
    "echoed_input",
    "exchange",
    "masked_frame",
    "open_jsonrpc",
    "receive",
    "strict_loads",
    "upgrade_request",
]

#: The factor the machine is slowed down by (UNIT is 5 s on an ordinary machine).
SCALE = UNIT / 5.0
#: Offered by the raw clients, so the server settles on JSON-RPC 2.0 at once.
JSONRPC = [Subprotocol("jsonrpc-2.0")]


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"non-standard JSON constant {name}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


def strict_loads(data: str | bytes) -> Any:
    """Parse ``data`` as RFC 8259 JSON, strictly.

    Rejects what lenient parsers let through: bytes that are not UTF-8, the
    ``NaN``/``Infinity`` constants, and ``\\ud800``-style escapes that decode to
    lone surrogates (not Unicode scalar values, so no UTF-8 peer can read them).

    Raises:
        ValueError: ``data`` is not strict JSON.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    value = json.loads(text, parse_constant=_refuse_constant)
    for string in _strings(value):
        string.encode("utf-8")  # raises UnicodeEncodeError (a ValueError) on a surrogate
    return value


def open_jsonrpc(url: str, **options: Any) -> Any:
    """``async with open_jsonrpc(url) as ws``: a bare WebSocket speaking ``jsonrpc-2.0``."""
    options.setdefault("max_size", None)  # the client must not be the one that refuses
    return ws_connect(url, subprotocols=JSONRPC, **options)


async def receive(ws: ClientConnection, timeout: float = UNIT) -> Any:
    """The next frame from the server, strictly parsed."""
    return strict_loads(await asyncio.wait_for(ws.recv(), timeout))


async def exchange(ws: ClientConnection, frame: Any, timeout: float = UNIT) -> Any:
    """Send ``frame`` (str/bytes as is, anything else as JSON) and return the parsed reply."""
    if isinstance(frame, bytes):
        await ws.send(frame, text=True)
    else:
        await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return await receive(ws, timeout)


def masked_frame(
    payload: bytes, *, opcode: int = 0x1, fin: bool = True, rsv1: bool = False
) -> bytes:
    """One client-to-server WebSocket frame, built by hand (RFC 6455 §5.2).

    ``websockets`` refuses to build frames that break the protocol (a reserved
    bit without an extension that claims it), which is exactly what some cases
    need to send.
    """
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, 0x80 | size)
    elif size < 2**16:
        header = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, size)
    mask = os.urandom(4)
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big") if size else b""
    return header + mask + masked


def upgrade_request(
    host: str,
    *,
    target: str = "/",
    method: str = "GET",
    version: str = "HTTP/1.1",
    extra: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The bytes of a WebSocket opening handshake request, headers in order, as given."""
    lines = [
        f"{method} {target} {version}",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: jsonrpc-2.0",
        *(f"{name}: {value}" for name, value in extra),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def echoed_input(inputs: Iterable[str], reply: Any, limit: int = 64) -> str | None:
    """A run of more than ``limit`` characters of any input string found in ``reply``.

    Looks at every string of the parsed reply (keys, messages, locations), so
    an escaped echo counts as much as a verbatim one. Returns the run, or None.
    """
    haystack = "\x00".join(_strings(reply))
    for text in inputs:
        for start in range(max(0, len(text) - limit)):
            run = text[start : start + limit + 1]
            if run in haystack:
                return run
    return None
