"""``aiorsocket.serve``: accept RSocket connections on one or more URIs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from .errors import LocalProtocolError
from .frames.types import MAX_FRAME_SIZE
from .handler import RequestHandler
from .lease import LeaseConfig, LeaseStrategy, lease_config
from .protocol import Connection, ConnectionConfig, Role
from .protocol.config import DEFAULT_MAX_INBOUND_PAYLOAD, DEFAULT_MAX_STREAMS
from .resume import ResumeConfig, ResumeState
from .resume_server import ResumeSessions
from .session import Acceptor, RSocket
from .transports.base import FrameTransport, Listener
from .transports.tls import SSLOption
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
        ssl: SSLOption,
        resume: ResumeConfig | None = None,
        lease: LeaseConfig | None = None,
    ) -> None:
        self.uris = list(uris)
        self._handler = handler
        self._acceptor = acceptor
        self._config = config
        self._ssl = ssl
        self._lease = lease
        self._listeners: list[Listener] = []
        self._resume_sessions = ResumeSessions(resume) if resume is not None else None
        self._resumable_config = replace(config, resumable=True)
        self.connections: set[RSocket] = set()
        self._closed = asyncio.Event()

    async def start(self) -> None:
        try:
            for uri in self.uris:
                listener = await open_listener(
                    uri, self._on_transport, ssl=self._ssl, max_frame_size=self._config.max_frame_size
                )
                self._listeners.append(listener)
        except BaseException:
            # One URI failed to bind: release the ones already bound before reporting it.
            for listener in self._listeners:
                listener.close()
                await listener.wait_closed()
            raise

    def _on_transport(self, transport: FrameTransport) -> None:
        if self._resume_sessions is None:
            self._start_session(transport, False)
        else:
            self._resume_sessions.accept(transport, self._start_session)

    def _start_session(self, transport: FrameTransport, resumable: bool) -> RSocket:
        config = self._resumable_config if resumable else self._config
        rsocket = RSocket(
            transport,
            Connection(Role.SERVER, config.for_transport(transport.get_extra_info("max_message_size"))),
            handler=self._handler,
            acceptor=self._acceptor,
            lease=self._lease,
        )
        self.connections.add(rsocket)
        rsocket._closed.add_done_callback(lambda _: self.connections.discard(rsocket))
        rsocket.start()
        return rsocket

    @property
    def resumable_sessions(self) -> int:
        """Resumable sessions held now, with a link or waiting for their client's RESUME."""
        return len(self._resume_sessions) if self._resume_sessions is not None else 0

    @property
    def addresses(self) -> list[Any]:
        """Every bound address, in listener order: (host, port, ...) tuples, paths for Unix sockets."""
        return [address for listener in self._listeners for address in listener.addresses]

    @property
    def bound_uris(self) -> list[str]:
        """One URI per listener, as bound (port 0 replaced by the real port)."""
        return [listener.uri for listener in self._listeners]

    @property
    def port(self) -> int:
        """The port of the first listener that has one (handy after binding port 0)."""
        for address in self.addresses:
            if isinstance(address, tuple):
                return int(address[1])
        raise LocalProtocolError(f"none of {self.uris} listens on a port")

    async def serve_forever(self) -> None:
        await self._closed.wait()

    async def close(self, *, grace: float = 5.0) -> None:
        """Stop listening, let open streams finish for up to ``grace`` seconds, then close."""
        for listener in self._listeners:
            listener.close()
        for rsocket in list(self.connections):
            stats = rsocket.resume_stats
            if stats is not None and stats.state is not ResumeState.CONNECTED:
                rsocket.close()  # waiting for its client to resume: its streams cannot finish
        connections = list(self.connections)
        if connections:
            closing = [asyncio.ensure_future(c.close_gracefully("server shutting down")) for c in connections]
            _, pending = await asyncio.wait(closing, timeout=grace)
            for task in pending:
                task.cancel()
            for rsocket in connections:
                rsocket.close()
            await asyncio.gather(*(rsocket.wait_closed() for rsocket in connections))
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

    The URIs may mix schemes (``tcp``, ``tls``, ``ws``, ``wss``, ``unix``, ``local``,
    ``quic``); ``ssl`` (a :class:`TLSConfig` or ``ssl.SSLContext``) serves the secure ones.
    With ``resume`` (a :class:`ResumeConfig`) clients that ask for it in their SETUP can
    resume their sessions on a new connection (see :mod:`aiorsocket.resume_server`).
    With ``lease`` (a :class:`LeaseConfig`, or just the :class:`LeaseStrategy` to grant
    with) clients whose SETUP asks for leasing get it; others are served without leases
    (see :mod:`aiorsocket.lease`).  Without ``lease``, a SETUP asking for it gets
    UNSUPPORTED_SETUP.
    """

    def __init__(
        self,
        handler: RequestHandler | Acceptor,
        *uris: str,
        fragment_size: int = 0,
        max_inbound_payload_size: int = DEFAULT_MAX_INBOUND_PAYLOAD,
        max_frame_size: int = MAX_FRAME_SIZE,
        max_streams: int = DEFAULT_MAX_STREAMS,
        ssl: SSLOption = None,
        resume: ResumeConfig | None = None,
        lease: LeaseConfig | LeaseStrategy | None = None,
    ) -> None:
        if not uris:
            raise ValueError("serve() needs at least one URI, e.g. tcp://127.0.0.1:7878")
        config = ConnectionConfig(
            fragment_size=fragment_size,
            max_inbound_payload_size=max_inbound_payload_size,
            max_frame_size=max_frame_size,
            max_streams=max_streams,
            lease=lease is not None,
        )
        if isinstance(handler, RequestHandler):
            self._server = Server(uris, handler, None, config, ssl, resume, lease_config(lease))
        else:
            self._server = Server(uris, None, handler, config, ssl, resume, lease_config(lease))

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
