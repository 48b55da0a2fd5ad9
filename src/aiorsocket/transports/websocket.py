"""WebSocket (``ws://``, ``wss://``): exactly one RSocket frame per binary message, no length prefix (§4).

Built on the sans-I/O protocol of the ``websockets`` package (the ``ws`` extra)
and the same asyncio protocol base as TCP, so write backpressure, TLS and peer
certificates behave exactly as they do there.  ``websockets`` answers pings and
runs the closing handshake; this module adds what RSocket needs on top:

* a text message breaks the framing: the session answers ERROR[CONNECTION_ERROR],
  then the WebSocket closes with 1003 (unsupported data);
* a message over the frame limit is refused by ``websockets`` as soon as its
  header is read (close 1009), before any of it is buffered;
* messages split into WebSocket fragments are reassembled, bounded by the same limit;
* the opening handshake and the closing handshake are each bounded in time.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import ssl as ssl_module
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.exceptions import PayloadTooBig
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from ..errors import ConnectionLostError, ErrorCode, FaultLevel, FrameTooLargeError, ProtocolError
from ..frames.types import MAX_FRAME_SIZE
from .base import FrameTransport
from .stream import SocketFrameTransport

#: Seconds allowed for the HTTP upgrade, and for the peer to finish a closing handshake.
HANDSHAKE_TIMEOUT: Final = 10.0
CLOSE_TIMEOUT: Final = 5.0

_logger = logging.getLogger("aiorsocket.websocket")


class WebSocketFrameTransport(SocketFrameTransport):
    """What client and server ends share: message framing, text refusal, closing."""

    def __init__(self, ws: Protocol) -> None:
        super().__init__()
        self._ws = ws
        # Fragments of a binary message still being received.
        self._fragments: list[bytes | bytearray | memoryview] | None = None
        self._close_code = CloseCode.NORMAL_CLOSURE
        self._close_reason = ""
        self._timer: asyncio.TimerHandle | None = None
        # Set once we close: frames still arriving are ignored (§4), only the handshake goes on.
        self._closing = False

    @property
    def websocket(self) -> Protocol:
        """The ``websockets`` sans-I/O protocol underneath (close code and reason, state)."""
        return self._ws

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._set_timer(HANDSHAKE_TIMEOUT, self._handshake_timed_out)

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        events = ws.events_received()
        self._send_pending()
        frames: list[memoryview] = []
        for event in events:
            if isinstance(event, Frame):
                self._on_frame(event, frames)
            else:
                self._on_handshake(event)
        if frames:
            self._deliver(frames)
        if ws.parser_exc is not None and not self._broken:
            self._on_parser_error(ws.parser_exc)
        if ws.close_expected() and self._timer is None:
            self._set_timer(CLOSE_TIMEOUT, self.abort)

    def _on_frame(self, frame: Frame, frames: list[memoryview]) -> None:
        if self._broken or self._closing:
            return
        opcode = frame.opcode
        if opcode is Opcode.BINARY:
            if frame.fin:
                frames.append(memoryview(frame.data))
            else:
                self._fragments = [frame.data]
        elif opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(frame.data)
            if frame.fin:
                frames.append(memoryview(b"".join(self._fragments)))
                self._fragments = None
        elif opcode is Opcode.TEXT:
            if frames:
                self._deliver(frames[:])
                frames.clear()
            self._close_code = CloseCode.UNSUPPORTED_DATA
            self._close_reason = "RSocket frames travel in binary messages"
            self._framing_failed(
                ProtocolError(
                    "a text WebSocket message arrived; RSocket frames travel in binary messages only",
                    rule="§4",
                )
            )

    def _on_parser_error(self, exc: Exception) -> None:
        """``websockets`` has already failed the connection (sent its close frame); tell the session why."""
        if isinstance(exc, PayloadTooBig):
            self._framing_failed(
                FrameTooLargeError(
                    f"a WebSocket message over the {self._ws.max_message_size}-byte frame limit arrived",
                    rule="FL-1",
                    level=FaultLevel.CONNECTION,
                    error_code=ErrorCode.CONNECTION_ERROR,
                )
            )
        elif not isinstance(exc, EOFError):
            self._framing_failed(ProtocolError(f"WebSocket protocol error: {exc}", rule="§4"))

    @abc.abstractmethod
    def _on_handshake(self, event: Request | Response) -> None:
        """The HTTP side of the opening handshake: a request (server) or a response (client)."""

    def _send_pending(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self._ws.data_to_send():
            if data:
                transport.write(data)
            else:
                # websockets asks for the end of the byte stream: after a close handshake, or a refusal.
                transport.close()

    def _set_timer(self, delay: float, callback: Callable[[], None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _handshake_timed_out(self) -> None:
        self._timer = None
        _logger.info("WebSocket opening handshake not finished within %g s; aborting", HANDSHAKE_TIMEOUT)
        self.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_timer()
        self._ws.receive_eof()
        self._ws.data_to_send()
        if exc is None and self._ws.close_rcvd is None and self._ws.state is not State.CONNECTING:
            exc = ConnectionResetError("the WebSocket closed without a close frame")
        super().connection_lost(exc)

    # FrameTransport --------------------------------------------------------------

    def write_frames(self, frames: list[bytes]) -> None:
        transport = self._transport
        ws = self._ws
        if transport is None or transport.is_closing() or ws.state is not State.OPEN:
            return
        for frame in frames:
            ws.send_binary(frame)
        transport.writelines(ws.data_to_send())

    def close(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._closing = True
        # The session may have paused reading (a SETUP awaiting its acceptor); the peer's
        # closing frame must still be read.
        transport.resume_reading()
        ws = self._ws
        if ws.state is State.OPEN:
            ws.send_close(self._close_code, self._close_reason)
            self._send_pending()
            self._set_timer(CLOSE_TIMEOUT, self.abort)
        elif ws.state is State.CONNECTING:
            transport.close()
        elif self._timer is None:
            self._set_timer(CLOSE_TIMEOUT, self.abort)


class WebSocketServerTransport(WebSocketFrameTransport):
    """Accepts the upgrade on one path; the session starts once the handshake is done."""

    def __init__(
        self,
        path: str,
        on_connected: Callable[[FrameTransport], None],
        *,
        max_frame_size: int = MAX_FRAME_SIZE,
    ) -> None:
        super().__init__(ServerProtocol(max_size=max_frame_size, logger=_logger))
        self._path = path
        self._on_connected = on_connected
        self._request: Request | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Adds ``request_headers``: the upgrade request's headers (e.g. for auth in an acceptor)."""
        if name == "request_headers":
            return self._request.headers if self._request is not None else default
        return super().get_extra_info(name, default)

    def _on_handshake(self, event: Request | Response) -> None:
        ws = self._ws
        assert isinstance(event, Request)
        assert isinstance(ws, ServerProtocol)
        self._request = event
        if urlsplit(event.path).path != self._path:
            response = ws.reject(404, f"No RSocket endpoint here; it is at {self._path}\n")
        else:
            response = ws.accept(event)
        ws.send_response(response)
        self._send_pending()
        if response.status_code == 101:
            self._cancel_timer()
            self._on_connected(self)


class WebSocketClientTransport(WebSocketFrameTransport):
    """Sends the upgrade request; :attr:`handshake` resolves once the server accepted it."""

    def __init__(
        self, uri: str, *, max_frame_size: int = MAX_FRAME_SIZE, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(ClientProtocol(parse_uri(uri), max_size=max_frame_size, logger=_logger))
        self._uri = uri
        self._headers = headers
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(self._ws, ClientProtocol)
        request = self._ws.connect()
        for name, value in self._headers:
            request.headers[name] = value
        self._ws.send_request(request)
        self._send_pending()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._ws.handshake_exc is not None:
            self._fail_handshake(f"WebSocket handshake with {self._uri} failed: {self._ws.handshake_exc}")

    def _on_handshake(self, event: Request | Response) -> None:
        if self._ws.handshake_exc is None and not self.handshake.done():
            self._cancel_timer()
            self.handshake.set_result(None)

    def _fail_handshake(self, message: str) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionLostError(message))

    def _handshake_timed_out(self) -> None:
        self._fail_handshake(f"WebSocket handshake with {self._uri} took over {HANDSHAKE_TIMEOUT:g} s")
        super()._handshake_timed_out()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._fail_handshake(f"{self._uri} closed the connection during the WebSocket handshake")
        super().connection_lost(exc)


async def connect_websocket(
    uri: str,
    host: str,
    port: int,
    *,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    max_frame_size: int = MAX_FRAME_SIZE,
    headers: Sequence[tuple[str, str]] = (),
) -> WebSocketClientTransport:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: WebSocketClientTransport(uri, max_frame_size=max_frame_size, headers=headers),
        host,
        port,
        ssl=ssl,
        server_hostname=server_hostname if ssl is not None else None,
    )
    try:
        await protocol.handshake
    except BaseException:
        protocol.abort()
        raise
    return protocol


async def listen_websocket(
    host: str,
    port: int,
    path: str,
    on_transport: Callable[[FrameTransport], None],
    *,
    ssl: ssl_module.SSLContext | None = None,
    max_frame_size: int = MAX_FRAME_SIZE,
    backlog: int = 1024,
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: WebSocketServerTransport(path, on_transport, max_frame_size=max_frame_size),
        host,
        port,
        ssl=ssl,
        backlog=backlog,
        reuse_address=True,
    )
