"""The FastAPI example as a user runs it: ``uvicorn examples.fastapi_app.app:app`` in its own
process, called with its generated client over RPC and with plain HTTP beside it."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from collections import Counter
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from examples.fastapi_app.client_generated import FastapiAppClient, NotFound
from tests.conftest import UNIT
from tests.helpers.asgi_servers import uvicorn_subprocess
from tests.helpers.processes import ROOT
from wsrpc_typed import InvalidParams, connect


def uvicorn_process(workers: int = 1) -> AbstractAsyncContextManager[str]:
    """``uvicorn examples.fastapi_app.app:app --port 0 --workers N``; its http:// URL."""
    return uvicorn_subprocess("examples.fastapi_app.app:app", workers)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=UNIT) as response:
        return json.loads(response.read())


async def test_the_generated_client_calls_the_mounted_endpoint() -> None:
    async with uvicorn_process() as http:
        rpc_url = http.replace("http://", "ws://") + "/rpc/"
        async with connect(rpc_url, headers={"User-Agent": "test/1"}) as conn:
            notes = FastapiAppClient(conn)
            first = await notes.add_note(text="buy milk")
            assert (first.id, first.text, first.author) == (1, "buy milk", "test/1")
            await notes.add_note(text="call Ann")
            assert [n.text for n in await notes.list_notes()] == ["buy milk", "call Ann"]
            assert [n.text for n in await notes.list_notes(limit=1)] == ["call Ann"]
            with pytest.raises(NotFound) as info:
                await notes.get_note(id=99)
            assert info.value.data == {"id": 99}
            with pytest.raises(InvalidParams):
                await notes.add_note(text="")
            # The HTTP routes see the same notes, and the connection.
            listed = await asyncio.to_thread(_get, http + "/notes")
            assert [n["text"] for n in listed] == ["buy milk", "call Ann"]
            health = await asyncio.to_thread(_get, http + "/health")
            assert health["status"] == "ok" and health["rpc_connections"] == 1
        client = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "examples.fastapi_app.client", rpc_url),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(client.communicate(), 4 * UNIT)
        assert client.returncode == 0
        text = out.decode()
        assert "added note 3: 'buy milk' by notes-client/1.0" in text
        assert "get_note(99) was refused: [1004] No such note: {'id': 99}" in text
        assert "add_note('') was refused: [-32602]" in text


async def test_each_uvicorn_worker_is_its_own_app() -> None:
    async with uvicorn_process(workers=2) as http:
        workers: set[int] = set()
        for _ in range(200):  # each request on a new connection: a worker takes it
            workers.add((await asyncio.to_thread(_get, http + "/health"))["worker"])
            if len(workers) == 2:
                break
        assert len(workers) == 2, workers
        rpc_url = http.replace("http://", "ws://") + "/rpc/"
        ids = []
        for _ in range(8):
            async with connect(rpc_url) as conn:
                ids.append((await FastapiAppClient(conn).add_note(text="n")).id)
        # Every worker numbers its own notes from 1: the ids are two runs 1..a and 1..b
        # (a + b = 8; b = 0 when one worker took every connection).
        counts = Counter(ids)
        assert set(counts) == set(range(1, max(ids) + 1)), ids
        assert max(counts.values()) <= 2, ids
        assert all(counts[i] >= counts[i + 1] for i in range(1, max(ids))), ids
