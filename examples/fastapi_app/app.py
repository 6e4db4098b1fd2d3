"""A FastAPI app with ordinary HTTP routes and the notes RPC endpoint mounted at ``/rpc``.

Run it with::

    uvicorn examples.fastapi_app.app:app --port 8000

then call it with its generated client (``python -m examples.fastapi_app.client
ws://127.0.0.1:8000/rpc/``), any JSON-RPC 2.0 WebSocket client, or plain HTTP:
``curl http://127.0.0.1:8000/notes``. Each worker of ``uvicorn --workers N``
is its own app, with its own notes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException

from examples.fastapi_app.service import Note, Notes, router
from wsrpc_typed.asgi import RpcApp

rpc = RpcApp(router)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.notes = Notes()
    async with rpc.lifespan(app):  # a mounted app gets no lifespan of its own
        yield


app = FastAPI(title="Notes", lifespan=lifespan)
app.mount("/rpc", rpc)  # clients connect to ws://HOST/rpc/


@app.get("/health")
async def health() -> dict[str, object]:
    """Whether the app runs: which worker process answered, and its RPC clients."""
    return {"status": "ok", "worker": os.getpid(), "rpc_connections": len(rpc.connections)}


@app.get("/notes")
async def list_notes() -> list[Note]:
    """The notes, over HTTP: the same ones the RPC methods add and list."""
    notes: Notes = app.state.notes
    return list(notes.items.values())


@app.get("/notes/{note_id}")
async def get_note(note_id: int) -> Note:
    """One note over HTTP."""
    notes: Notes = app.state.notes
    note = notes.items.get(note_id)
    if note is None:
        raise HTTPException(status_code=404, detail="No such note")
    return note
