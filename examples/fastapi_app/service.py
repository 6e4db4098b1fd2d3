"""The RPC side of the FastAPI example: notes, shared with the app's HTTP routes.

The handlers find the notes where the app keeps them, ``app.state.notes``,
through the ASGI scope (``ctx.scope["app"]``): the RPC endpoint and the HTTP
routes serve the same data. See ``app.py``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from wsrpc_typed import Context, Router, RpcError

router = Router(
    title="Notes",
    version="1.0.0",
    description="Short notes, added and listed over RPC (and listed over HTTP).",
)


class Note(BaseModel):
    """One note."""

    id: int
    text: str
    author: str


class NotFound(RpcError):
    """There is no note with that id."""

    code = 1004
    default_message = "No such note"


class Notes:
    """The notes of one app (one worker): kept in memory."""

    def __init__(self) -> None:
        self.items: dict[int, Note] = {}

    def add(self, text: str, author: str) -> Note:
        note = Note(id=len(self.items) + 1, text=text, author=author)
        self.items[note.id] = note
        return note


def notes_of(ctx: Context) -> Notes:
    """The app's notes, from the scope of the connection the call came on."""
    scope = ctx.scope
    if scope is None:
        raise RuntimeError("the notes service runs under RpcApp, in the FastAPI app")
    notes: Notes = scope["app"].state.notes
    return notes


@router.method
async def add_note(ctx: Context, text: Annotated[str, Field(min_length=1, max_length=500)]) -> Note:
    """Add a note; its author is the caller's ``User-Agent`` header."""
    return notes_of(ctx).add(text, ctx.headers.get("user-agent", "anonymous"))


@router.method
async def list_notes(ctx: Context, limit: Annotated[int, Field(ge=1, le=1000)] = 100) -> list[Note]:
    """The latest notes, oldest first."""
    return list(notes_of(ctx).items.values())[-limit:]


@router.method(errors=[NotFound])
async def get_note(ctx: Context, id: int) -> Note:
    """One note by its id."""
    note = notes_of(ctx).items.get(id)
    if note is None:
        raise NotFound(data={"id": id})
    return note
