"""Correct use of generated clients: mypy --strict must accept this file."""

from __future__ import annotations

import uuid
from decimal import Decimal

from examples.primes.client_generated import PrimesClient, PrimeStats
from tests.codegen.golden.bank_client import (
    BankClient,
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
        items: list[ItemOutput] = await bank.items(item=item, level=Level.VALUE_2)
        await bank.nothing()
        return balance.balance + items[0].price
