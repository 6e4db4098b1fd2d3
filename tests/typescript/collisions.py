"""Names a generated TypeScript module must keep apart: models named like the runtime's
exports, standard globals and the client class, methods named like the client's members."""

from __future__ import annotations

from pydantic import BaseModel

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
