"""Call the primes service through its generated, typed client.

``python -m examples.primes.client ws://127.0.0.1:8765``
"""

from __future__ import annotations

import asyncio
import sys

from examples.primes.client_generated import PrimesClient, TooLarge
from wsrpc_typed import InvalidParams, connect


async def main(url: str) -> None:
    async with connect(url) as conn:
        primes = PrimesClient(conn)
        print("primes below 50:", await primes.computePrimes(n=50))
        print("is 97 prime?", await primes.isPrime(n=97))
        stats = await primes.stats(limit=1_000_000)
        print(f"primes below {stats.limit:,}: {stats.count:,}, the largest {stats.largest:,}")
        try:
            await primes.stats(limit=20_000_000)
        except TooLarge as exc:
            print(f"stats(20,000,000) was refused: [{exc.code}] {exc.message}: {exc.data}")
        try:
            await primes.computePrimes(n=-1)
        except InvalidParams as exc:
            print(f"computePrimes(-1) was refused: [{exc.code}] {exc.message}: {exc.data}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765"))
