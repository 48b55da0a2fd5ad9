"""Frames over a byte stream (TCP, TLS, Unix sockets): u24 length prefix per frame (§4).

:class:`SocketFrameTransport` holds what every socket-backed transport shares
(write watermarks, frames that arrive before the session attaches, close
tracking); :class:`StreamFrameTransport` adds the length-prefix framing and the
WebSocket transport adds message framing on top of the same base.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, cast

from ..errors import ProtocolError
from ..frames import Deframer
from ..frames.types import MAX_FRAME_SIZE
from .base import FrameReceiver, FrameTransport, Listener, WriteGate

#: Send-buffer watermarks: above HIGH the producer waits until the buffer drains below LOW.
WRITE_HIGH_WATER = 1024 * 1024
WRITE_LOW_WATER = 256 * 1024
#: Seconds a closing connection keeps reading (and dropping) what the peer still sends.
CLOSE_LINGER = 2.0


class SocketFrameTransport(FrameTransport, asyncio.Protocol):
    """An asyncio protocol carrying whole frames; subclasses decide how frames are delimited."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._receiver: FrameReceiver | None = None
        # Frames read before a receiver is attached; bounded by one read's worth.
        self._early: list[memoryview] = []
        self._early_loss: tuple[BaseException | None] | None = None
        self._write_gate = WriteGate()
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._broken = False
        self._linger: asyncio.TimerHandle | None = None

    # asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Request-n round trips stall ~40 ms each under Nagle (peers.md).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        if not self._closed.done():
            self._closed.set_result(None)
        self._write_gate.close()
        if self._receiver is not None:
            self._receiver.transport_lost(exc)
        else:
            self._early_loss = (exc,)

    def pause_writing(self) -> None:
        self._write_gate.pause()

    def resume_writing(self) -> None:
        self._write_gate.resume()

    # for subclasses ----------------------------------------------------------------

    def _deliver(self, frames: list[memoryview]) -> None:
        if self._receiver is None:
            self._early.extend(frames)
        else:
            self._receiver.frames_received(frames)

    def _framing_failed(self, exc: ProtocolError) -> None:
        """The peer broke the framing: nothing more is read; the session answers and closes."""
        self._broken = True
        if self._receiver is not None:
            self._receiver.framing_failed(exc)
        else:
            self.abort()

    # FrameTransport --------------------------------------------------------------

    def attach(self, receiver: FrameReceiver) -> None:
        self._receiver = receiver
        if self._early:
            frames, self._early = self._early, []
            receiver.frames_received(frames)
        if self._early_loss is not None:
            receiver.transport_lost(self._early_loss[0])

    @property
    def write_paused(self) -> bool:
        return self._write_gate.paused

    async def wait_writable(self) -> None:
        await self._write_gate.wait()

    def pause_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def close(self) -> None:
        """Flush, send FIN, then keep reading until the peer closes (or CLOSE_LINGER passes).

        Closing a socket that still has unread input makes the kernel send RST, and an RST can
        make the peer discard our last frames (e.g. the ERROR[REJECTED_SETUP] that explains why
        we close) before reading them; a peer that pipelined requests after SETUP hits this.
        """
        transport = self._transport
        if transport is None or transport.is_closing() or self._linger is not None:
            return
        self._broken = True  # whatever still arrives is dropped
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        transport.resume_reading()
        self._linger = asyncio.get_running_loop().call_later(CLOSE_LINGER, transport.abort)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self._transport is None:
            return default
        return self._transport.get_extra_info(name, default)


class StreamFrameTransport(SocketFrameTransport):
    """An asyncio protocol that deframes reads and length-prefixes writes."""

    def __init__(
        self,
        *,
        max_frame_size: int = MAX_FRAME_SIZE,
        on_connected: Callable[[StreamFrameTransport], None] | None = None,
    ) -> None:
        super().__init__()
        self._on_connected = on_connected
        self._deframer = Deframer(max_frame_size)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._on_connected is not None:
            self._on_connected(self)

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        try:
            frames = self._deframer.feed(data)
        except ProtocolError as exc:
            self._framing_failed(exc)
            return
        if frames:
            self._deliver(frames)
        error = self._deframer.error
        if error is not None and not self._broken:
            self._framing_failed(error)

    def write_frames(self, frames: list[bytes]) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        parts: list[bytes] = []
        append = parts.append
        for frame in frames:
            append(len(frame).to_bytes(3, "big"))
            append(frame)
        transport.write(b"".join(parts))


class SocketListener(Listener):
    """A listening :class:`asyncio.Server` (TCP, TLS, WebSocket, Unix sockets)."""

    def __init__(self, server: asyncio.Server, uri: str) -> None:
        self._server = server
        self._uri = uri

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def addresses(self) -> list[Any]:
        return [sock.getsockname() for sock in self._server.sockets]

    def close(self) -> None:
        self._server.close()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()
