"""A bounded poll for state that no callback or future reports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_for(
    predicate: Callable[[], bool], what: str, sample: Callable[[], None] = lambda: None, *, polls: int = 1_000
) -> None:
    """Check ``predicate`` every 10 ms, at most ``polls`` times; ``sample`` runs at every poll,
    to check a bound while we wait."""
    for _ in range(polls):
        sample()
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")
