"""aiorsocket over Aeron: the same handler and client as ``impl_aiorsocket``, on ``aeron+udp://``.

The media driver is the suite's (``suite.py --aeron`` starts one and hands its directory to both
processes as ``AERON_DIR``), so client and server share it as two processes on one host would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiorsocket
from impl_aiorsocket import AiorsocketClient, _acceptor


async def start_server() -> tuple[int, Callable[[], Awaitable[None]]]:
    server = await aiorsocket.serve(_acceptor, "aeron+udp://127.0.0.1:0")

    async def close() -> None:
        await server.close(grace=1.0)

    return server.port, close


async def connect(port: int) -> AiorsocketClient:
    return AiorsocketClient(await aiorsocket.connect(f"aeron+udp://127.0.0.1:{port}"))
