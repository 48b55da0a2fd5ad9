"""A ticker stream: quotes pushed as fast as the reader asks for them, never faster.

    aiorsocket serve ticker:app --app-dir examples --uri tcp://127.0.0.1:7878
    python examples/ticker.py           (server on a free port and a reader taking 10 quotes)

``ticker.{symbol}`` is an endless request/stream.  The generator runs only when the requester's
REQUEST_N credit allows (``limit_rate`` on the reader's side), so a slow reader slows the ticker
instead of filling memory; leaving the ``async for`` sends CANCEL, which closes the generator.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiorsocket
from aiorsocket.app import Requester, Router


@dataclass
class Subscription:
    interval_ms: int = 100
    seed: int = 0


@dataclass
class Quote:
    symbol: str
    seq: int
    price: float


app = Router()
generators_closed: list[str] = []


@app.stream("ticker.{symbol}")
async def ticker(symbol: str, subscription: Subscription) -> AsyncIterator[Quote]:
    prices = random.Random(f"{symbol}:{subscription.seed}")
    price = 100.0
    seq = 0
    try:
        while True:
            price = round(max(0.01, price * (1 + prices.uniform(-0.01, 0.01))), 2)
            yield Quote(symbol, seq, price)
            seq += 1
            # A ticker paces itself by the clock; backpressure can only slow it further.
            await asyncio.sleep(subscription.interval_ms / 1000)
    finally:
        generators_closed.append(symbol)


async def read_quotes(address: str, symbol: str, count: int) -> list[Quote]:
    async with Requester.connect(address) as requester:
        quotes: list[Quote] = []
        stream = requester.route("ticker.{symbol}", symbol=symbol).data(Subscription(interval_ms=5, seed=1))
        async for quote in stream.retrieve_stream(Quote, limit_rate=4):
            quotes.append(quote)
            if len(quotes) == count:
                break
        return quotes


async def main() -> None:
    async with aiorsocket.serve(app, "tcp://127.0.0.1:0") as server:
        for quote in await read_quotes(server.bound_uris[0], "ACME", 10):
            print(f"{quote.symbol} #{quote.seq:<3} {quote.price:8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
