"""QUIC (``quic://``) on aioquic (the ``quic`` extra), wire-compatible with rsocket-py's QUIC transport.

The spec leaves QUIC open (§4), so the mapping is rsocket-py's
(``rsocket/transports/aioquic_transport.py``): every frame carries the TCP u24
length prefix and each side writes all its frames to the first bidirectional
stream it may open itself (the client stream 0, the server stream 1); every
stream received is read as frames (we deframe each on its own), and no ALPN is
offered or required.  A peer ending a stream (FIN) only says it will write no
more there: rsocket-py ends the half of each stream it does not write on, so
the connection ends only with QUIC's CONNECTION_CLOSE.  TLS 1.3 is QUIC's own;
certificates come from a :class:`TLSConfig`.

aioquic's server cannot verify client certificates, so mutual TLS is refused
here with a clear error rather than silently not enforced.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable
from typing import Any, Final

from aioquic.asyncio.protocol import QuicConnectionProtocol, QuicStreamHandler
from aioquic.asyncio.server import QuicServer
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress, QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    QuicEvent,
    StopSendingReceived,
    StreamDataReceived,
    StreamReset,
)
from aioquic.quic.packet import QuicErrorCode

from ..errors import ConnectionLostError, LocalProtocolError, ProtocolError
from ..frames import Deframer
from ..frames.types import MAX_FRAME_SIZE
from .base import FrameReceiver, FrameTransport, Listener, WriteGate
from .stream import WRITE_HIGH_WATER, WRITE_LOW_WATER
from .tls import SSLOption, TLSConfig

#: Seconds allowed for the QUIC handshake, and for our last frames to be acknowledged on close.
HANDSHAKE_TIMEOUT: Final = 10.0
CLOSE_TIMEOUT: Final = 5.0
#: Frames held while the session has paused reading (a SETUP awaiting the acceptor): QUIC
#: flow control cannot pause one connection of a shared UDP socket, so the bound is ours.
PAUSED_LIMIT_EXTRA: Final = 1024 * 1024


class QuicFrameTransport(QuicConnectionProtocol, FrameTransport):
    """One QUIC connection carrying RSocket frames."""

    def __init__(
        self,
        quic: QuicConnection,
        stream_handler: QuicStreamHandler | None = None,
        *,
        max_frame_size: int = MAX_FRAME_SIZE,
        on_connected: Callable[[QuicFrameTransport], None] | None = None,
        on_ended: Callable[[QuicFrameTransport], None] | None = None,
        owns_socket: bool = False,
    ) -> None:
        super().__init__(quic, stream_handler)
        self._max_frame_size = max_frame_size
        self._on_connected = on_connected
        self._on_ended = on_ended
        self._owns_socket = owns_socket
        self._deframers: dict[int, Deframer] = {}
        self._send_stream: int | None = None
        self._written = 0
        self._receiver: FrameReceiver | None = None
        # Frames not yet handed to the session: before attach, or while reading is paused.
        self._held: list[memoryview] = []
        self._held_bytes = 0
        self._reading = True
        self._broken = False
        self._closing = False
        self._close_sent = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._loss: tuple[BaseException | None] | None = None
        self._loss_reported = False
        self._ended: asyncio.Future[None] = self._loop.create_future()
        self._write_gate = WriteGate()
        self._peer_address: NetworkAddress | None = None
        self.termination: ConnectionTerminated | None = None
        """Why the connection ended (QUIC error code and reason), once it has."""

    # aioquic -------------------------------------------------------------------------

    def datagram_received(self, data: bytes | str, addr: NetworkAddress) -> None:
        if self._peer_address is None:
            self._peer_address = addr
        super().datagram_received(data, addr)

    def quic_event_received(self, event: QuicEvent) -> None:
        # The base class would copy every stream into an asyncio.StreamReader nobody reads.
        if isinstance(event, StreamDataReceived):
            self._on_stream_data(event)
        elif isinstance(event, HandshakeCompleted):
            if self._on_connected is not None:
                self._on_connected(self)
        elif isinstance(event, StreamReset) and event.stream_id in self._deframers:
            self.abort()  # the peer abandoned a stream of frames mid-way: the rest is lost
        elif isinstance(event, StopSendingReceived) and event.stream_id == self._send_stream:
            self.abort()  # the peer will not read our frames any more
        elif isinstance(event, ConnectionTerminated):
            self._on_terminated(event)

    def _on_stream_data(self, event: StreamDataReceived) -> None:
        if self._broken:
            return
        stream_id = event.stream_id
        deframer = self._deframers.get(stream_id)
        if deframer is None:
            deframer = self._deframers[stream_id] = Deframer(self._max_frame_size)
        try:
            frames = deframer.feed(event.data)
        except ProtocolError as exc:
            self._framing_failed(exc)
            return
        if frames:
            self._deliver(frames)
        if deframer.error is not None and not self._broken:
            self._framing_failed(deframer.error)
        elif event.end_stream:
            del self._deframers[stream_id]
            if deframer.buffered:
                self._framing_failed(
                    ProtocolError(f"QUIC stream {stream_id} ended inside a frame", rule="§4")
                )

    def _deliver(self, frames: list[memoryview]) -> None:
        if self._receiver is not None and self._reading and not self._held:
            self._receiver.frames_received(frames)
            return
        self._held.extend(frames)
        self._held_bytes += sum(len(frame) for frame in frames)
        if self._held_bytes > self._max_frame_size + PAUSED_LIMIT_EXTRA:
            self._framing_failed(
                ProtocolError(
                    f"the peer sent over {self._held_bytes} bytes while its SETUP awaited acceptance",
                    rule="§4",
                )
            )

    def _framing_failed(self, exc: ProtocolError) -> None:
        self._broken = True
        self._held.clear()
        self._held_bytes = 0
        if self._receiver is not None:
            self._receiver.framing_failed(exc)
        else:
            self.abort()

    def _on_terminated(self, event: ConnectionTerminated) -> None:
        self.termination = event
        exc: BaseException | None = None
        if event.error_code != QuicErrorCode.NO_ERROR:
            exc = ConnectionResetError(
                f"QUIC connection closed with error {event.error_code:#x}: {event.reason_phrase}"
            )
        self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        """The connection is over for us: tell the session, release our socket.

        Called when aioquic reports the end, or as soon as our own CONNECTION_CLOSE is out:
        aioquic's closing period (3 PTO) only re-sends that frame to a peer that missed it, and
        a client must not hold its socket, nor its session's close, for that long.
        """
        if self._loss is not None:
            return
        self._loss = (exc,)
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._owns_socket and self._transport is not None:
            self._transport.close()
        self._write_gate.close()
        self._held.clear()
        self._held_bytes = 0
        self._ended.set_result(None)
        self._report_loss()
        if self._loss_reported:
            # aioquic keeps a server-side protocol through its closing period: do not let it
            # keep the session (and every buffer it holds) alive that long too.
            self._receiver = None
        if self._on_ended is not None:
            self._on_ended(self)

    def _report_loss(self) -> None:
        if self._loss is None or self._loss_reported or self._receiver is None:
            return
        self._loss_reported = True
        self._receiver.transport_lost(self._loss[0])

    def transmit(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        super().transmit()
        if self._write_gate.paused and self._unsent() <= WRITE_LOW_WATER:
            self._write_gate.resume()
        if self._closing and not self._close_sent and self._all_acknowledged():
            self._close_sent = True
            self._quic.close()
            super().transmit()
        if self._close_sent:
            self._finish(None)

    def _send_sender(self) -> Any:
        # aioquic has no public view of a stream's send buffer; its sender object is the only
        # way to bound what we queue and to know when our last frames were acknowledged.
        stream = self._quic._streams.get(self._send_stream) if self._send_stream is not None else None
        return None if stream is None else stream.sender

    def _unsent(self) -> int:
        sender = self._send_sender()
        return 0 if sender is None else self._written - int(sender.highest_offset)

    def _all_acknowledged(self) -> bool:
        sender = self._send_sender()
        return sender is None or bool(sender.is_finished)

    # FrameTransport --------------------------------------------------------------

    def attach(self, receiver: FrameReceiver) -> None:
        self._receiver = receiver
        self._release_held()

    def _release_held(self) -> None:
        if self._receiver is not None and self._reading and self._held:
            frames, self._held = self._held, []
            self._held_bytes = 0
            self._receiver.frames_received(frames)
        self._report_loss()

    def write_frames(self, frames: list[bytes]) -> None:
        if self._closing or self._loss is not None:
            return
        if self._send_stream is None:
            self._send_stream = self._quic.get_next_available_stream_id()
        parts: list[bytes] = []
        for frame in frames:
            parts.append(len(frame).to_bytes(3, "big"))
            parts.append(frame)
        data = b"".join(parts)
        self._quic.send_stream_data(self._send_stream, data)
        self._written += len(data)
        self._transmit_soon()
        if self._unsent() > WRITE_HIGH_WATER:
            self._write_gate.pause()

    @property
    def write_paused(self) -> bool:
        return self._write_gate.paused

    async def wait_writable(self) -> None:
        await self._write_gate.wait()

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        self._reading = True
        self._release_held()

    def close(self, error_code: int = QuicErrorCode.NO_ERROR, reason_phrase: str = "") -> None:
        """Send what is queued, wait (bounded) for it to be acknowledged, then close the connection."""
        if error_code != QuicErrorCode.NO_ERROR:
            self._closing = self._close_sent = True
            super().close(error_code, reason_phrase)
            return
        if self._closing or self._loss is not None:
            return
        self._closing = True
        if self._send_stream is not None:
            self._quic.send_stream_data(self._send_stream, b"", end_stream=True)
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self.abort)
        self.transmit()

    def abort(self) -> None:
        if self._loss is not None:
            return
        self.close(QuicErrorCode.INTERNAL_ERROR, "aborted")

    async def wait_closed(self) -> None:
        await asyncio.shield(self._ended)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peer_address if self._peer_address is not None else default
        if name == "sockname" and self._transport is not None:
            return self._transport.get_extra_info("sockname", default)
        return default


def _require_tls_config(option: SSLOption, uri: str) -> TLSConfig | None:
    if isinstance(option, ssl.SSLContext):
        raise LocalProtocolError(
            f"{uri}: QUIC needs ssl=TLSConfig(...); aioquic does its own TLS and cannot use an ssl.SSLContext"
        )
    return option


def client_configuration(option: SSLOption, uri: str, server_name: str) -> QuicConfiguration:
    tls = _require_tls_config(option, uri)
    configuration = QuicConfiguration(is_client=True, server_name=server_name)
    if tls is not None:
        if not tls.verify:
            configuration.verify_mode = ssl.CERT_NONE
        if tls.cafile is not None:
            configuration.load_verify_locations(cafile=os.fspath(tls.cafile))
        if tls.certfile is not None:
            configuration.load_cert_chain(tls.certfile, tls.keyfile)
    return configuration


def server_configuration(option: SSLOption, uri: str) -> QuicConfiguration:
    tls = _require_tls_config(option, uri)
    if tls is None or tls.certfile is None:
        raise LocalProtocolError(f"{uri} is a QUIC endpoint: pass ssl=TLSConfig(certfile=..., keyfile=...)")
    if tls.cafile is not None:
        raise LocalProtocolError(
            f"{uri}: aioquic cannot verify client certificates, so QUIC has no mutual TLS; "
            "use tls:// or wss:// for it, or drop cafile/require_client_cert"
        )
    configuration = QuicConfiguration(is_client=False)
    configuration.load_cert_chain(tls.certfile, tls.keyfile)
    return configuration


async def connect_quic(
    host: str, port: int, configuration: QuicConfiguration, *, max_frame_size: int = MAX_FRAME_SIZE
) -> QuicFrameTransport:
    loop = asyncio.get_running_loop()
    connection = QuicConnection(configuration=configuration)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: QuicFrameTransport(connection, max_frame_size=max_frame_size, owns_socket=True),
        remote_addr=(host, port),
    )
    protocol.connect(transport.get_extra_info("peername"))
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            await protocol.wait_connected()
    except (ConnectionError, TimeoutError) as exc:
        protocol.abort()
        transport.close()
        termination = protocol.termination
        reason = (
            termination.reason_phrase or f"error {termination.error_code:#x}"
            if termination is not None
            else f"no answer within {HANDSHAKE_TIMEOUT:g} s"
        )
        raise ConnectionLostError(f"QUIC handshake with {host}:{port} failed: {reason}") from exc
    return protocol


class QuicListener(Listener):
    """A UDP socket accepting QUIC connections; shared by every connection it accepted."""

    def __init__(
        self,
        configuration: QuicConfiguration,
        on_transport: Callable[[FrameTransport], None],
        max_frame_size: int,
    ) -> None:
        self._configuration = configuration
        self._on_transport = on_transport
        self._max_frame_size = max_frame_size
        self._accepting = True
        self._connections: set[QuicFrameTransport] = set()
        self._handed_over: set[QuicFrameTransport] = set()
        self._transport: asyncio.DatagramTransport | None = None
        self._uri = ""

    async def _bind(self, host: str, port: int, scheme: str) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: QuicServer(configuration=self._configuration, create_protocol=self._create_protocol),
            local_addr=(host, port),
        )
        self._transport = transport
        bound = transport.get_extra_info("sockname")
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self._uri = f"{scheme}://{shown}:{bound[1]}"

    def _create_protocol(
        self, connection: QuicConnection, stream_handler: QuicStreamHandler | None = None
    ) -> QuicFrameTransport:
        protocol = QuicFrameTransport(
            connection,
            stream_handler,
            max_frame_size=self._max_frame_size,
            on_connected=self._connected,
            on_ended=self._ended,
        )
        self._connections.add(protocol)
        return protocol

    def _ended(self, protocol: QuicFrameTransport) -> None:
        self._connections.discard(protocol)
        self._handed_over.discard(protocol)

    def _connected(self, protocol: QuicFrameTransport) -> None:
        if not self._accepting:
            protocol.close(QuicErrorCode.CONNECTION_REFUSED, "the server is shutting down")
            return
        self._handed_over.add(protocol)
        self._on_transport(protocol)

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def addresses(self) -> list[Any]:
        return [] if self._transport is None else [self._transport.get_extra_info("sockname")]

    def close(self) -> None:
        self._accepting = False
        for protocol in self._connections - self._handed_over:
            protocol.abort()

    async def wait_closed(self) -> None:
        """Connections share this socket: it closes once every one of them has ended."""
        await asyncio.gather(*(protocol.wait_closed() for protocol in list(self._connections)))
        if self._transport is not None:
            self._transport.close()


async def listen_quic(
    host: str,
    port: int,
    configuration: QuicConfiguration,
    on_transport: Callable[[FrameTransport], None],
    *,
    scheme: str = "quic",
    max_frame_size: int = MAX_FRAME_SIZE,
) -> QuicListener:
    listener = QuicListener(configuration, on_transport, max_frame_size)
    await listener._bind(host, port, scheme)
    return listener
