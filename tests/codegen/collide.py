"""Models whose names collide with what a generated module imports or defines."""

from __future__ import annotations

from pydantic import BaseModel


class Field(BaseModel):
    x: int


class Api(BaseModel):
    y: int


async def uses_both(a: Field, b: Api) -> int:
    return a.x + b.y
