"""Chat through the generated client; serve the server's calls through the generated Protocol.

``python -m examples.chat.client ws://127.0.0.1:8765 --name bob --room lobby --text hi``

Joins the room, says something, prints the room's history (a stream), then
asks the server to clear it: the server asks back, calling this client's
``confirm`` handler, before it deletes anything.
"""

from __future__ import annotations

import argparse
import asyncio

from examples.chat.client_generated import ChatClient, ChatMessage, register_handlers
from wsrpc_typed import Router, connect

__all__ = ["Terminal", "main"]


class Terminal:
    """The handlers the server calls (it implements ``ChatHandlers``): print, answer yes."""

    def __init__(self, *, answer: bool = True) -> None:
        self.answer = answer

    async def message(self, *, message: ChatMessage) -> None:
        """Print a message pushed by the server."""
        print(f"<- [{message.room}] {message.sender}: {message.text}", flush=True)

    async def confirm(self, *, question: str) -> bool:
        """Answer the server's question with ``self.answer``."""
        print(f"server asks: {question} {'yes' if self.answer else 'no'}", flush=True)
        return self.answer


async def main(url: str, *, name: str, room: str, text: str, clear: bool = True) -> None:
    """Join, say ``text``, print the history, then clear it (the server asks first)."""
    router = register_handlers(Router(), Terminal())
    async with connect(url, router=router) as conn:
        chat = ChatClient(conn)
        print("members:", ", ".join(await chat.join(room=room, name=name)), flush=True)
        sent = await chat.say(room=room, text=text)
        print(f"sent #{sent.seq}", flush=True)
        async for message in chat.history(room=room):
            print(f"history #{message.seq} {message.sender}: {message.text}", flush=True)
        if clear:
            print(f"cleared {await chat.clear(room=room)} messages", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8765")
    parser.add_argument("--name", default="guest")
    parser.add_argument("--room", default="lobby")
    parser.add_argument("--text", default="hello")
    parser.add_argument("--keep", action="store_true", help="do not clear the history")
    args = parser.parse_args()
    asyncio.run(main(args.url, name=args.name, room=args.room, text=args.text, clear=not args.keep))
