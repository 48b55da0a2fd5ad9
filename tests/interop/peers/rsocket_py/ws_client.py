"""rsocket-py (PyPI ``rsocket`` 0.4.20) scenario runner over WebSocket.

    python tests/interop/peers/rsocket_py/ws_client.py --port P --scenario NAME [--route-mode]
        [--timeout-ms MS]

client.py unchanged (same scenarios, same JSON line), connecting to ``ws://127.0.0.1:P/rsocket``
through rsocket-py's own ``WebsocketsTransport`` over a ``websockets`` client: client.py's
``connect`` is replaced by the WebSocket one below before its ``main`` runs.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import websockets
from rsocket.helpers import single_transport_provider
from rsocket.transports.websockets_transport import WebsocketsTransport

import client as scenarios

WS_PATH = "/rsocket"
MAX_MESSAGE = 1 << 24
_running: set[asyncio.Task[Any]] = set()


async def connect(port: int, route_mode: bool, keepalive_ms: int, lifetime_ms: int) -> scenarios.Connection:
    websocket = await websockets.connect(
        f"ws://127.0.0.1:{port}{WS_PATH}", max_size=MAX_MESSAGE, compression=None
    )
    transport = WebsocketsTransport()
    handling = asyncio.create_task(transport.handler(websocket))
    _running.add(handling)
    handling.add_done_callback(_running.discard)
    handler = scenarios.ClientHandler()
    client = scenarios.CountingClient(
        single_transport_provider(transport),
        handler_factory=lambda: handler,
        data_encoding=scenarios.PLAIN_MIME,
        metadata_encoding=scenarios.COMPOSITE_MIME if route_mode else scenarios.PLAIN_MIME,
        keep_alive_period=timedelta(milliseconds=keepalive_ms),
        max_lifetime_period=timedelta(milliseconds=lifetime_ms),
        fragment_size_bytes=scenarios.FRAGMENT_SIZE,
    )
    await client.connect()
    return scenarios.Connection(client, handler, route_mode)


if __name__ == "__main__":
    scenarios.connect = connect
    scenarios.main()
