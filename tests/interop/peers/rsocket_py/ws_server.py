"""rsocket-py (PyPI ``rsocket`` 0.4.20) conformance server over WebSocket, path ``/rsocket``.

    python tests/interop/peers/rsocket_py/ws_server.py --port P [--reject-setup]

server.py's conformance handler (same semantics, same ``READY <port>`` line), served through
rsocket-py's own ``WebsocketsTransport`` on a ``websockets`` server: one frame per binary message.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from http import HTTPStatus
from typing import Any

import websockets
from rsocket.rsocket_server import RSocketServer
from rsocket.transports.websockets_transport import WebsocketsTransport

from server import FRAGMENT_SIZE, ConformanceHandler

WS_PATH = "/rsocket"
MAX_MESSAGE = 1 << 24


async def serve(port: int, reject_setup: bool) -> None:
    live: set[RSocketServer] = set()  # strong references to the per-connection engines

    async def endpoint(websocket: Any) -> None:
        transport = WebsocketsTransport()
        handling = asyncio.create_task(transport.handler(websocket))
        server = RSocketServer(
            transport,
            handler_factory=lambda: ConformanceHandler(reject_setup, live),
            fragment_size_bytes=FRAGMENT_SIZE,
        )
        live.add(server)
        try:
            await handling
        finally:
            live.discard(server)
            async with asyncio.timeout(2):
                await server.close()

    def only_rsocket_path(connection: Any, request: Any) -> Any:
        if request.path != WS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"RSocket is served at {WS_PATH}\n")
        return None

    async with websockets.serve(
        endpoint,
        "127.0.0.1",
        port,
        process_request=only_rsocket_path,
        max_size=MAX_MESSAGE,
        compression=None,
    ) as ws_server:
        real_port = next(iter(ws_server.sockets)).getsockname()[1]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"READY {real_port}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reject-setup", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.reject_setup))


if __name__ == "__main__":
    main()
