"""``aiorsocket.connect``: open a client RSocket over any supported URI."""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, cast, overload

from .backoff import ReconnectPolicy
from .framelog import FrameLogger, FrameLoggingTransport
from .handler import RequestHandler
from .lease import LeaseConfig, LeaseStrategy, lease_config
from .payload import Payload
from .protocol import Connection, ConnectionConfig, Role
from .protocol.config import DEFAULT_MAX_INBOUND_PAYLOAD
from .reconnect import ReconnectingRSocket, StateCallback
from .resume import ClientResumableTransport, ResumeConfig
from .session import RSocket
from .transports.base import FrameTransport
from .transports.tls import SSLOption
from .transports.uri import open_transport

Headers = Mapping[str, str] | Sequence[tuple[str, str]]

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    # The default keeps a bare ``connect`` annotation meaning what it always did.
    _Client = TypeVar("_Client", default=RSocket)
else:
    from typing import TypeVar

    _Client = TypeVar("_Client")


class connect(Generic[_Client]):
    """Connect to an RSocket server; await it, or use it as an async context manager.

    >>> async with aiorsocket.connect("tcp://127.0.0.1:7878") as rs:
    ...     reply = await rs.request_response(aiorsocket.Payload(b"hi"))

    ``handler`` serves requests the server sends to this client.  Times are in
    seconds.  ``fragment_size`` (bytes, >= 64) splits large messages; 0 sends them
    whole up to the 16 MiB frame limit.  ``ssl`` (a :class:`TLSConfig` or an
    ``ssl.SSLContext``) configures ``tls://``, ``wss://`` and ``quic://``; without it
    the server is verified against the system's CAs.  ``headers`` (a mapping or name/value
    pairs) go in the WebSocket upgrade request of ``ws://`` and ``wss://``.  ``frame_logger`` is called with
    ``("send" | "receive", frame)`` for every frame on the wire (see :mod:`aiorsocket.framelog`).

    With ``lease`` (a :class:`LeaseConfig`, or just the :class:`LeaseStrategy` to grant
    with) the SETUP asks for leasing: requests wait for the server's first LEASE and
    then spend it, and the server's requests spend ours (see :mod:`aiorsocket.lease`).

    With ``resume`` (a :class:`ResumeConfig`) the session survives the loss of its
    connection: the client reconnects with backoff and RESUMEs, and streams carry on
    where they were with nothing lost or repeated (see :mod:`aiorsocket.resume`).

    With ``reconnect`` (a :class:`ReconnectPolicy`) the result is a
    :class:`ReconnectingRSocket` that connects again whenever its connection is lost,
    reporting each state change to ``on_state_change`` (see :mod:`aiorsocket.reconnect`).
    """

    @overload
    def __init__(
        self: connect[RSocket],
        uri: str,
        *,
        handler: RequestHandler | None = None,
        data_mime: str = "application/octet-stream",
        metadata_mime: str = "application/octet-stream",
        setup_payload: Payload | None = None,
        keepalive_interval: float = 20.0,
        max_lifetime: float = 90.0,
        fragment_size: int = 0,
        max_inbound_payload_size: int = DEFAULT_MAX_INBOUND_PAYLOAD,
        ssl: SSLOption = None,
        headers: Headers | None = None,
        frame_logger: FrameLogger | None = None,
        lease: LeaseConfig | LeaseStrategy | None = None,
        resume: ResumeConfig | None = None,
        reconnect: None = None,
        on_state_change: None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: connect[ReconnectingRSocket],
        uri: str,
        *,
        handler: RequestHandler | None = None,
        data_mime: str = "application/octet-stream",
        metadata_mime: str = "application/octet-stream",
        setup_payload: Payload | None = None,
        keepalive_interval: float = 20.0,
        max_lifetime: float = 90.0,
        fragment_size: int = 0,
        max_inbound_payload_size: int = DEFAULT_MAX_INBOUND_PAYLOAD,
        ssl: SSLOption = None,
        headers: Headers | None = None,
        frame_logger: FrameLogger | None = None,
        lease: LeaseConfig | LeaseStrategy | None = None,
        resume: ResumeConfig | None = None,
        reconnect: ReconnectPolicy,
        on_state_change: StateCallback | None = None,
    ) -> None: ...

    def __init__(
        self,
        uri: str,
        *,
        handler: RequestHandler | None = None,
        data_mime: str = "application/octet-stream",
        metadata_mime: str = "application/octet-stream",
        setup_payload: Payload | None = None,
        keepalive_interval: float = 20.0,
        max_lifetime: float = 90.0,
        fragment_size: int = 0,
        max_inbound_payload_size: int = DEFAULT_MAX_INBOUND_PAYLOAD,
        ssl: SSLOption = None,
        headers: Headers | None = None,
        frame_logger: FrameLogger | None = None,
        lease: LeaseConfig | LeaseStrategy | None = None,
        resume: ResumeConfig | None = None,
        reconnect: ReconnectPolicy | None = None,
        on_state_change: StateCallback | None = None,
    ) -> None:
        setup = setup_payload or Payload()
        self._uri = uri
        self._handler = handler
        self._ssl = ssl
        self._headers = tuple(headers.items() if isinstance(headers, Mapping) else headers or ())
        self._frame_logger = frame_logger
        self.config = ConnectionConfig(
            keepalive_interval=keepalive_interval,
            max_lifetime=max_lifetime,
            metadata_mime=metadata_mime,
            data_mime=data_mime,
            setup_data=setup.data,
            setup_metadata=setup.metadata,
            fragment_size=fragment_size,
            max_inbound_payload_size=max_inbound_payload_size,
            lease=lease is not None,
        )
        self._lease = lease_config(lease)
        self._resume = resume
        self._reconnect = reconnect
        self._on_state_change = on_state_change
        self._client: _Client | None = None

    async def _open_link(self) -> FrameTransport:
        transport = await open_transport(
            self._uri, ssl=self._ssl, max_frame_size=self.config.max_frame_size, headers=self._headers
        )
        if self._frame_logger is not None and self._resume is not None:
            # Logged per link, under resumption, so RESUME frames and KEEPALIVE positions show as sent.
            return FrameLoggingTransport(transport, self._frame_logger)
        return transport

    async def _open(self) -> RSocket:
        transport = await self._open_link()
        config = self.config
        frame_logger = self._frame_logger
        if self._resume is not None:
            token = self._resume.new_token()
            config = replace(config, resumable=True, resume_token=token)
            transport = ClientResumableTransport(transport, token, self._resume, self._open_link)
            frame_logger = None
        rsocket = RSocket(
            transport,
            Connection(Role.CLIENT, config.for_transport(transport.get_extra_info("max_message_size"))),
            handler=self._handler,
            frame_logger=frame_logger,
            lease=self._lease,
        )
        rsocket.start()
        return rsocket

    async def _start(self) -> _Client:
        # The casts are the overloads' promise: no policy, a plain RSocket; a policy, a reconnecting one.
        if self._reconnect is None:
            return cast(_Client, await self._open())
        client = await ReconnectingRSocket.open(
            self._open, self._reconnect, on_state_change=self._on_state_change, name=self._uri
        )
        return cast(_Client, client)

    def __await__(self) -> Generator[Any, None, _Client]:
        return self._start().__await__()

    async def __aenter__(self) -> _Client:
        self._client = await self._start()
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client = cast(RSocket | ReconnectingRSocket | None, self._client)
        if client is not None:
            await client.aclose()
