"""Call the primes service: ``python -m examples.primes.client ws://127.0.0.1:8765``."""

from __future__ import annotations

import asyncio
import sys

from wsrpc_typed import RpcError, connect


async def main(url: str) -> None:
    async with connect(url) as conn:
        primes = await conn.call("computePrimes", {"n": 50}, result_type=list[int])
        print("primes below 50:", primes)
        print("is 97 prime?", await conn.call("isPrime", [97], result_type=bool))
        stats = await conn.call("stats", {"limit": 1_000_000})
        print("stats below 1,000,000:", stats)
        try:
            await conn.call("computePrimes", {"n": -1})
        except RpcError as exc:
            print(f"computePrimes(-1) was refused: [{exc.code}] {exc.message}: {exc.data}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765"))
