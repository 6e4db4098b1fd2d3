"""What the tests of the chat example share: a member's handlers and fresh rooms."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from examples.chat import service
from examples.chat.client_generated import ChatMessage
from tests.conftest import UNIT

__all__ = ["Member", "fresh_rooms"]


class Member:
    """A chat client's handlers (it implements ``ChatHandlers``), recording what it got."""

    def __init__(self, answer: bool = True) -> None:
        self.inbox: asyncio.Queue[ChatMessage] = asyncio.Queue()
        self.questions: list[str] = []
        self.answer = answer

    async def message(self, *, message: ChatMessage) -> None:
        await self.inbox.put(message)

    async def confirm(self, *, question: str) -> bool:
        self.questions.append(question)
        return self.answer

    async def next(self) -> ChatMessage:
        return await asyncio.wait_for(self.inbox.get(), UNIT)


def fresh_rooms() -> Iterator[None]:
    """Empty rooms before and after a test (the example keeps them in-process).

    A module makes it a fixture: ``fresh_rooms = pytest.fixture(autouse=True)(fresh_rooms)``.
    """
    service.rooms.clear()
    yield
    service.rooms.clear()
