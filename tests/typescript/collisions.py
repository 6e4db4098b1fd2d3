"""Names a generated TypeScript module must keep apart: models named like the runtime's
exports, standard globals and the client class, methods named like the client's members."""

from __future__ import annotations

from pydantic import BaseModel, Field

from wsrpc_typed import Router

__all__ = ["router"]


class RpcError(BaseModel):
    x: int


class RpcConnection(BaseModel):
    x: int


class Record(BaseModel):
    x: int


class Promise(BaseModel):
    x: int


class Error(BaseModel):
    x: int


class ShapesClient(BaseModel):
    x: int


router = Router()


@router.method
async def models(
    a: RpcError, b: RpcConnection, c: Record, d: Promise, e: Error, f: ShapesClient
) -> list[Record]:
    return [c]


for _name in ("close", "connection", "notify", "constructor", "delete", "with.dot"):

    async def _member() -> None:
        return None

    router.method(name=_name)(_member)


class Oddities(BaseModel):
    """Wire names that are not identifiers, a list of a union, a constant object."""

    model_config = {"populate_by_name": True}

    dashed: str = Field(alias="my-field")
    mixed: list[int | str] = []
    nested: list[list[Record | None]] = []
    fixed: dict[str, int] = Field(default={"a": 1}, json_schema_extra={"const": {"a": 1}})


@router.method(deprecated=True)
async def odd(value: Oddities) -> Oddities:
    """Use something else."""
    return value
