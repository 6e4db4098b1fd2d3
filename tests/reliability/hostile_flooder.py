"""The attacker of case 6, run in its own process: malformed messages from many connections.

``python -m tests.reliability.hostile_flooder URL CONNECTIONS MESSAGES RATE SEED [good]``
sends MESSAGES bad messages spread over CONNECTIONS connections, RATE messages a
second in all, and prints one JSON object: for each kind of message, how it was
answered. Each connection waits for the answer to one message before it sends
the next, so every answer is matched to its message. With ``good``, every
message is a well-formed ``echo`` call instead: the same load without the
fault, for the baseline.

Kinds (every text one is valid UTF-8 and never valid JSON):

* ``truncated``: a valid request cut short; ``empty``; ``whitespace``;
  ``bom``: a request after a byte order mark; ``noise``: random characters;
  ``nul``: NUL characters;
* ``binary``: random bytes in a binary frame;
* ``bad-utf8``: a text frame that is not UTF-8 (RFC 6455 §8.1: the server must
  fail the connection, 1007); the connection reconnects after each.

A kind is answered ``parse-error`` (a -32700 reply with ``id: null``),
``result`` (the good ``echo`` call's), ``close-<code>``, or ``other``
(anything else, which the test reports).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections import Counter

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

__all__ = ["bad_message", "main"]

TEXT_KINDS = ("truncated", "empty", "whitespace", "bom", "noise", "nul")
REQUEST = '{"jsonrpc": "2.0", "id": 7, "method": "echo", "params": {"value": ["hello", {"a": 1}]}}'
ECHOED = ["hello", {"a": 1}]


def bad_message(kind: str, rng: random.Random) -> tuple[bytes, bool]:
    """One bad message of ``kind``: its payload and whether it goes in a text frame."""
    if kind == "truncated":
        return REQUEST[: rng.randrange(1, len(REQUEST))].encode(), True
    if kind == "empty":
        return b"", True
    if kind == "whitespace":
        return "".join(rng.choices(" \t\r\n", k=rng.randrange(1, 64))).encode(), True
    if kind == "bom":
        return ("\ufeff" + REQUEST).encode(), True
    if kind == "noise":
        # '#' never starts a JSON value; the rest is any character but a surrogate.
        chars = (
            chr(rng.choice([rng.randrange(32, 0xD800), rng.randrange(0xE000, 0x110000)]))
            for _ in range(rng.randrange(1, 200))
        )
        return ("#" + "".join(chars)).encode(), True
    if kind == "nul":
        return b"\x00" * rng.randrange(1, 64), True
    if kind == "binary":
        # 0xC1 is never valid UTF-8 and starts no msgpack map.
        return b"\xc1" + rng.randbytes(rng.randrange(0, 200)), False
    if kind == "good":
        return REQUEST.encode(), True
    if kind == "bad-utf8":
        return b'{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": ["\xff\xfe"]}', True
    raise ValueError(kind)


def _answer(frame: str | bytes) -> str:
    try:
        reply = json.loads(frame)
    except ValueError:
        return "other"
    if (
        isinstance(reply, dict)
        and reply.get("id", "absent") is None
        and isinstance(reply.get("error"), dict)
        and reply["error"].get("code") == -32700
    ):
        return "parse-error"
    if isinstance(reply, dict) and reply.get("id") == 7 and reply.get("result") == ECHOED:
        return "result"
    return "other"


async def _attack(
    url: str,
    kinds: list[str],
    interval: float,
    rng: random.Random,
    outcomes: dict[str, Counter[str]],
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time() + rng.uniform(0, interval)  # connections out of step
    ws: ClientConnection | None = None
    try:
        for n, kind in enumerate(kinds):
            await asyncio.sleep(max(0.0, start + n * interval - loop.time()))
            if ws is None:
                ws = await ws_connect(url, subprotocols=[Subprotocol("jsonrpc-2.0")])
            payload, text = bad_message(kind, rng)
            try:
                await ws.send(payload, text=text)
                outcome = _answer(await asyncio.wait_for(ws.recv(), 30))
            except websockets.ConnectionClosed:
                await ws.wait_closed()
                outcome = f"close-{ws.close_code}"
                ws = None
            outcomes[kind][outcome] += 1
    finally:
        if ws is not None:
            await ws.close()


async def main(
    url: str, connections: int, messages: int, rate: float, seed: int, good: bool = False
) -> dict[str, dict[str, int]]:
    """Flood ``url``; return, for each kind, how many messages got each answer."""
    rng = random.Random(seed)
    kinds = ["good"] if good else [*TEXT_KINDS, "binary"]
    plan = [rng.choice(kinds) for _ in range(messages)]
    if not good:
        for i in range(0, messages, 50):  # one in 50 is not UTF-8
            plan[i] = "bad-utf8"
    outcomes: dict[str, Counter[str]] = {kind: Counter() for kind in set(plan)}
    share = [plan[i::connections] for i in range(connections)]
    await asyncio.gather(
        *(
            _attack(url, part, connections / rate, random.Random(rng.random()), outcomes)
            for part in share
        )
    )
    return {kind: dict(counts) for kind, counts in outcomes.items()}


if __name__ == "__main__":
    url, connections, messages, rate, seed = sys.argv[1:6]
    good = sys.argv[6:] == ["good"]
    result = asyncio.run(main(url, int(connections), int(messages), float(rate), int(seed), good))
    print(json.dumps(result))
