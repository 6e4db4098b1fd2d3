"""Correct use of generated clients: mypy --strict must accept this file."""

from __future__ import annotations

import uuid
from decimal import Decimal

from examples.primes.client_generated import PrimesClient, PrimeStats
from tests.codegen.golden.bank_client import (
    BankClient,
    Color,
    Frozen,
    InsufficientFunds,
    ItemInput,
    ItemOutput,
    Level,
)
from wsrpc_typed import connect


async def use_primes(url: str) -> int:
    async with connect(url) as conn:
        client = PrimesClient(conn)
        primes: list[int] = await client.computePrimes(n=100)
        stats: PrimeStats = await client.stats(limit=100)
        largest: int | None = stats.largest
        prime: bool = await client.isPrime(n=97)
        return len(primes) + (largest or 0) + int(prime)


async def use_bank(url: str) -> Decimal:
    async with connect(url) as conn:
        bank = BankClient(conn)
        try:
            balance = await bank.withdraw(amount=Decimal(5), account="main")
        except InsufficientFunds as exc:
            return exc.data.balance
        except Frozen:
            return Decimal(0)
        item = ItemInput(name="pen", price=Decimal(1), ident=uuid.uuid4())
        items: list[ItemOutput] = await bank.items(item=item, level=Level.HIGH)
        await bank.nothing()
        return balance.balance + items[0].price


def enums_keep_their_names_and_mixins() -> tuple[str, int]:
    # As the server module declares them: Color is a StrEnum, Level an IntEnum.
    red: str = Color.RED
    high: int = Level.HIGH + 1
    assert isinstance(Color.DARK_BLUE, str)
    return red, high
