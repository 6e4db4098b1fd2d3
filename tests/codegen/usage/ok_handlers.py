"""Both sides of the chat document, correct: mypy --strict must accept this file.

Client side: implementations of the generated ``ChatHandlers`` Protocol (structural, and
by subclassing it), registered with the generated helper. Server side: a handler that
calls the client through the generated peer stub (as ``examples/chat/service.py`` does).
"""

from __future__ import annotations

from examples.chat import client_generated as client
from examples.chat import peer_generated as peer
from wsrpc_typed import Context, Router, connect


class Structural:
    async def message(self, *, message: client.ChatMessage) -> None:
        print(message.text)

    async def confirm(self, *, question: str) -> bool:
        return question.endswith("?")


class Positional:
    """Positional-or-keyword params satisfy the Protocol's keyword-only ones."""

    async def message(self, message: client.ChatMessage) -> None:
        pass

    async def confirm(self, question: str) -> bool:
        return False


class Subclass(client.ChatHandlers):
    async def message(self, *, message: client.ChatMessage) -> None:
        pass

    async def confirm(self, *, question: str) -> bool:
        return True


async def use_client(url: str) -> int:
    client.register_handlers(Router(), Structural())
    client.register_handlers(Router(), Positional())
    handlers: client.ChatHandlers = Subclass()
    async with connect(url, router=client.register_handlers(Router(), handlers)) as conn:
        chat = client.ChatClient(conn)
        names: list[str] = await chat.join(room="lobby", name="ann")
        sent: client.ChatMessage = await chat.say(room="lobby", text="hi")
        seqs = [m.seq async for m in chat.history(room="lobby", after=0)]
        return len(names) + sent.seq + len(seqs)


server_router = Router()


@server_router.method
async def ask(ctx: Context, question: str) -> bool:
    stub = peer.ChatPeer(ctx.peer)
    await stub.notify_message(message=peer.ChatMessage(room="r", seq=0, sender="s", text="t"))
    answer: bool = await stub.confirm(question=question)
    return answer
