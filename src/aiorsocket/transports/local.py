"""The in-process transport (``local://name``): two ends in one event loop, frames passed by reference.

For tests and embedding: no sockets, no copies, no framing.  Delivery happens on
the next loop pass, never inside the sender's call, so a session is never
re-entered from its own write; bytes waiting for the other end count against
the sender's watermarks exactly like a socket's send buffer, so backpressure
and pause_reading behave as they do over TCP.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import ErrorCode, FaultLevel, FrameTooLargeError, LocalProtocolError
from ..frames.types import MAX_FRAME_SIZE
from .base import FrameReceiver, FrameTransport, Listener, WriteGate
from .stream import WRITE_HIGH_WATER, WRITE_LOW_WATER

_listeners: dict[str, LocalListener] = {}


class LocalFrameTransport(FrameTransport):
    """One end of an in-process connection."""

    def __init__(self, name: str, side: str, *, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._loop = asyncio.get_running_loop()
        self._name = name
        self._side = side
        self._max_frame_size = max_frame_size
        self._peer: LocalFrameTransport | None = None
        self._receiver: FrameReceiver | None = None
        self._inbox: deque[memoryview] = deque()
        self._inbox_bytes = 0
        self._reading = True
        self._delivery: asyncio.Handle | None = None
        self._closing = False
        self._broken = False
        self._framing_error: FrameTooLargeError | None = None
        # Set when the other end went away: deliver what it sent before, then report the loss.
        self._peer_gone: tuple[BaseException | None] | None = None
        self._lost = False
        self._pending_loss: tuple[BaseException | None] | None = None
        self._write_gate = WriteGate()
        self._closed: asyncio.Future[None] = self._loop.create_future()

    @staticmethod
    def pair(
        name: str, *, client_max_frame_size: int, server_max_frame_size: int
    ) -> tuple[LocalFrameTransport, LocalFrameTransport]:
        """Two connected ends, ``(client, server)``, each enforcing its own inbound frame limit."""
        client = LocalFrameTransport(name, "client", max_frame_size=client_max_frame_size)
        server = LocalFrameTransport(name, "server", max_frame_size=server_max_frame_size)
        client._peer, server._peer = server, client
        return client, server

    # receiving ---------------------------------------------------------------------

    def _enqueue(self, frames: list[bytes]) -> None:
        if self._broken:
            return
        for frame in frames:
            if len(frame) > self._max_frame_size:
                # Frames queued before the oversized one are still delivered first, as over TCP.
                self._broken = True
                self._framing_error = FrameTooLargeError(
                    f"a frame of {len(frame)} bytes arrived; the limit is {self._max_frame_size}",
                    rule="FL-1",
                    level=FaultLevel.CONNECTION,
                    error_code=ErrorCode.CONNECTION_ERROR,
                )
                break
            self._inbox.append(memoryview(frame))
            self._inbox_bytes += len(frame)
        self._schedule_delivery()

    def _schedule_delivery(self) -> None:
        wanted = self._reading or self._peer_gone is not None
        if wanted and self._delivery is None and self._receiver is not None and not self._lost:
            self._delivery = self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self._delivery = None
        receiver = self._receiver
        if receiver is None or self._lost:
            return
        if self._inbox and self._reading:
            frames = list(self._inbox)
            self._inbox.clear()
            self._inbox_bytes = 0
            if self._peer is not None:
                self._peer._drained()
            receiver.frames_received(frames)
        error = self._framing_error
        if error is not None and self._reading:
            self._framing_error = None
            receiver.framing_failed(error)
            return
        if self._peer_gone is not None:
            # As over a socket, the loss is reported even while reading is paused; frames the
            # session did not take by then die with the connection.
            self._lose(self._peer_gone[0])

    def _drained(self) -> None:
        """The other end consumed everything we sent: producers may go on."""
        if self._write_gate.paused and (self._peer is None or self._peer._inbox_bytes <= WRITE_LOW_WATER):
            self._write_gate.resume()

    def _peer_closed(self, exc: BaseException | None, *, discard: bool) -> None:
        if discard:
            self._inbox.clear()
            self._inbox_bytes = 0
        self._peer_gone = (exc,)
        self._schedule_delivery()

    def _lose(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._set_closed()
        if self._receiver is not None:
            self._receiver.transport_lost(exc)
        else:
            self._pending_loss = (exc,)

    def _set_closed(self) -> None:
        if not self._closed.done():
            self._closed.set_result(None)
        self._write_gate.close()

    # FrameTransport ----------------------------------------------------------------

    def attach(self, receiver: FrameReceiver) -> None:
        self._receiver = receiver
        if self._pending_loss is not None:
            receiver.transport_lost(self._pending_loss[0])
            return
        self._schedule_delivery()

    def write_frames(self, frames: list[bytes]) -> None:
        peer = self._peer
        if self._closing or self._lost or peer is None:
            return
        peer._enqueue(frames)
        if peer._inbox_bytes > WRITE_HIGH_WATER:
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
        self._schedule_delivery()

    def close(self) -> None:
        self._shut(None, discard=False)

    def abort(self) -> None:
        self._shut(ConnectionResetError(f"local://{self._name}: the {self._side} aborted"), discard=True)

    def _shut(self, exc: BaseException | None, *, discard: bool) -> None:
        if self._closing or self._lost:
            return
        self._closing = True
        peer, self._peer = self._peer, None
        if peer is not None:
            peer._peer = None
            peer._peer_closed(exc, discard=discard)
        # What the other end sent and we did not read yet is dropped, as after a socket close.
        self._inbox.clear()
        self._inbox_bytes = 0
        self._loop.call_soon(self._lose, None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return ("local", self._name, "server" if self._side == "client" else "client")
        if name == "sockname":
            return ("local", self._name, self._side)
        return default


class LocalListener(Listener):
    """A name in this process that ``local://name`` clients connect to."""

    def __init__(
        self, name: str, on_transport: Callable[[FrameTransport], None], max_frame_size: int
    ) -> None:
        self._name = name
        self._on_transport = on_transport
        self._max_frame_size = max_frame_size
        self._loop = asyncio.get_running_loop()

    @property
    def uri(self) -> str:
        return f"local://{self._name}"

    @property
    def addresses(self) -> list[Any]:
        return [("local", self._name)]

    def close(self) -> None:
        if _listeners.get(self._name) is self:
            del _listeners[self._name]

    async def wait_closed(self) -> None:
        return

    def _accept(self, client_max_frame_size: int) -> LocalFrameTransport:
        client, server = LocalFrameTransport.pair(
            self._name,
            client_max_frame_size=client_max_frame_size,
            server_max_frame_size=self._max_frame_size,
        )
        self._on_transport(server)
        return client


async def listen_local(
    name: str, on_transport: Callable[[FrameTransport], None], *, max_frame_size: int = MAX_FRAME_SIZE
) -> LocalListener:
    if name in _listeners:
        raise LocalProtocolError(f"local://{name} is already being served in this process")
    listener = _listeners[name] = LocalListener(name, on_transport, max_frame_size)
    return listener


async def connect_local(name: str, *, max_frame_size: int = MAX_FRAME_SIZE) -> LocalFrameTransport:
    listener = _listeners.get(name)
    if listener is None:
        raise ConnectionRefusedError(f"nothing serves local://{name} in this process")
    if listener._loop is not asyncio.get_running_loop():
        raise ConnectionRefusedError(f"local://{name} is served by another event loop")
    return listener._accept(max_frame_size)
