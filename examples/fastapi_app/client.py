"""Call the FastAPI example's RPC endpoint through its generated, typed client.

``python -m examples.fastapi_app.client ws://127.0.0.1:8000/rpc/``
"""

from __future__ import annotations

import asyncio
import sys

from examples.fastapi_app.client_generated import FastapiAppClient, NotFound
from wsrpc_typed import InvalidParams, connect


async def main(url: str) -> None:
    async with connect(url, headers={"User-Agent": "notes-client/1.0"}) as conn:
        notes = FastapiAppClient(conn)
        first = await notes.add_note(text="buy milk")
        print(f"added note {first.id}: {first.text!r} by {first.author}")
        await notes.add_note(text="call Ann")
        listed = await notes.list_notes()
        print("notes:", ", ".join(f"{note.id}={note.text}" for note in listed))
        print("note 1 is", repr((await notes.get_note(id=1)).text))
        try:
            await notes.get_note(id=99)
        except NotFound as exc:
            print(f"get_note(99) was refused: [{exc.code}] {exc.message}: {exc.data}")
        try:
            await notes.add_note(text="")
        except InvalidParams as exc:
            print(f"add_note('') was refused: [{exc.code}]")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8000/rpc/"))
