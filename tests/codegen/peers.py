"""An API whose server calls its clients: peer methods of every kind the generator handles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from pydantic import BaseModel, Field

from wsrpc_typed import Router, RpcError


class Note(BaseModel):
    """Used by peer methods (and by the server's ``relay``)."""

    text: str
    loud: bool = False


class Audit(BaseModel):
    """Used by the server's methods only: a peer stub does not carry it."""

    entries: list[str]


class Refused(RpcError):
    """The client refused."""

    code = 4100
    default_message = "Refused"
    data_model = Note


def build_router() -> Router:
    """The server's methods (bodies are set by the tests) and the peer methods it calls."""
    router = Router()

    @router.method
    async def audit() -> Audit:
        return Audit(entries=[])

    @router.peer.method(errors=[Refused])
    async def shout(note: Note, times: Annotated[int, Field(ge=1, le=3)] = 1) -> str:
        """Shout ``note`` ``times`` times."""
        raise NotImplementedError

    @router.peer.method
    async def count(upto: int) -> AsyncIterator[int]:
        """Count from 1 to ``upto``."""
        raise NotImplementedError
        yield 0  # an async generator: a stream

    @router.peer.method
    async def tell(note: Note) -> None:
        """A notification."""

    @router.peer.method
    async def pick(match: str, handlers: int = 0) -> str:
        """Params named like a soft keyword and like the registration helper's argument."""
        raise NotImplementedError

    return router


class RelayHandlers(BaseModel):
    """Named like the Protocol of a client generated as ``RelayClient``."""

    x: int


async def echo(value: RelayHandlers) -> int:
    """A peer method whose model is named like the Protocol."""
    raise NotImplementedError


#: For the ``MODULE:ATTR`` source.
ROUTER = build_router()
