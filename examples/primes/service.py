"""The seed's computePrimes example as a typed handler module.

Serve it with::

    wsrpc serve examples.primes.service:router --port 8765
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from wsrpc_typed import Router, RpcError

router = Router(
    title="Primes",
    version="1.0.0",
    description="Prime numbers: tests, counts and lists below a bound.",
)


class PrimeStats(BaseModel):
    """Summary of the primes below a bound."""

    limit: int
    count: int
    largest: int | None = None


class TooLarge(RpcError):
    """The request would take too long to answer."""

    code = 1001
    default_message = "Limit too large"


@router.method(name="computePrimes")
def compute_primes(n: Annotated[int, Field(ge=0, le=10_000_000)]) -> list[int]:
    """Every prime below ``n``, by the sieve of Eratosthenes (runs in a worker thread)."""
    if n < 3:
        return []
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    for i in range(2, int((n - 1) ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, n, i)))
    return [i for i, flag in enumerate(sieve) if flag]


@router.method(errors=[TooLarge])
def stats(limit: Annotated[int, Field(ge=0)], exact: bool = True) -> PrimeStats:
    """How many primes lie below ``limit``, and the largest."""
    if limit > 10_000_000:
        raise TooLarge(data={"maximum": 10_000_000})
    primes = compute_primes(limit)
    return PrimeStats(limit=limit, count=len(primes), largest=primes[-1] if primes else None)


@router.method(name="isPrime")
async def is_prime(n: int) -> bool:
    """Whether ``n`` is prime (trial division; runs on the event loop)."""
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n**0.5) + 1))
