"""``aiorsocket.serve``: accept RSocket connections on one or more URIs."""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Generator, Sequence
from types import TracebackType
from typing import Any

from .frames.types import MAX_FRAME_SIZE
from .handler import RequestHandler
from .protocol import Connection, ConnectionConfig, Role
from .protocol.config import DEFAULT_MAX_INBOUND_PAYLOAD
from .session import Acceptor, RSocket
from .transports.base import FrameTransport
from .transports.uri import open_listener

logger = logging.getLogger("aiorsocket.server")


class Server:
    """A running server: its listeners and the connections they accepted."""

    def __init__(
        self,
        uris: Sequence[str],
        handler: RequestHandler | None,
        acceptor: Acceptor | None,
        config: ConnectionConfig,
        ssl: ssl_module.SSLContext | None,
    ) -> None:
        self.uris = list(uris)
        self._handler = handler
        self._acceptor = acceptor
        self._config = config
        self._ssl = ssl
        self._listeners: list[asyncio.Server] = []
        self.connections: set[RSocket] = set()
        self._closed = asyncio.Event()

    async def start(self) -> None:
        for uri in self.uris:
            listener = await open_listener(
                uri, self._on_transport, ssl=self._ssl, max_frame_size=self._config.max_frame_size
            )
            self._listeners.append(listener)

    def _on_transport(self, transport: FrameTransport) -> None:
        rsocket = RSocket(
            transport,
            Connection(Role.SERVER, self._config),
            handler=self._handler,
            acceptor=self._acceptor,
        )
        self.connections.add(rsocket)
        rsocket._closed.add_done_callback(lambda _: self.connections.discard(rsocket))
        rsocket.start()

    @property
    def addresses(self) -> list[tuple[Any, ...]]:
        """Every bound socket address (host, port, ...), in listener order."""
        return [sock.getsockname() for listener in self._listeners for sock in listener.sockets]

    @property
    def port(self) -> int:
        """The port of the first listener (handy after binding port 0)."""
        return int(self.addresses[0][1])

    async def serve_forever(self) -> None:
        await self._closed.wait()

    async def close(self, *, grace: float = 5.0) -> None:
        """Stop listening, let open streams finish for up to ``grace`` seconds, then close."""
        for listener in self._listeners:
            listener.close()
        connections = list(self.connections)
        if connections:
            closing = [asyncio.ensure_future(c.close_gracefully("server shutting down")) for c in connections]
            _, pending = await asyncio.wait(closing, timeout=grace)
            for task in pending:
                task.cancel()
            for rsocket in connections:
                rsocket.close()
        for listener in self._listeners:
            await listener.wait_closed()
        self._closed.set()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class serve:
    """Start serving ``handler`` on every URI; await it or use it as an async context manager.

    ``handler`` is either a :class:`RequestHandler` shared by every connection, or
    an acceptor ``async def acceptor(setup: ConnectionSetup, requester: RSocket)``
    returning the handler for that connection; raising rejects the SETUP
    (``RejectedSetupError``/``UnsupportedSetupError``/``InvalidSetupError`` pick the code,
    anything else is REJECTED_SETUP with its message).
    """

    def __init__(
        self,
        handler: RequestHandler | Acceptor,
        *uris: str,
        fragment_size: int = 0,
        max_inbound_payload_size: int = DEFAULT_MAX_INBOUND_PAYLOAD,
        max_frame_size: int = MAX_FRAME_SIZE,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        if not uris:
            raise ValueError("serve() needs at least one URI, e.g. tcp://127.0.0.1:7878")
        config = ConnectionConfig(
            fragment_size=fragment_size,
            max_inbound_payload_size=max_inbound_payload_size,
            max_frame_size=max_frame_size,
        )
        if isinstance(handler, RequestHandler):
            self._server = Server(uris, handler, None, config, ssl)
        else:
            self._server = Server(uris, None, handler, config, ssl)

    async def _start(self) -> Server:
        await self._server.start()
        return self._server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._server.close()
