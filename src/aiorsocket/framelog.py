"""An optional tap on every frame a connection sends and receives (what ``--debug`` prints).

The tap wraps the transport instead of adding checks to the session's send and
receive paths, so a connection without a frame logger pays nothing at all.  The
frames it sees are the ones on the wire: after fragmentation, without the TCP
length prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeAlias

from .errors import ProtocolError
from .transports.base import FrameReceiver, FrameTransport

Direction: TypeAlias = Literal["send", "receive"]
FrameLogger: TypeAlias = Callable[[Direction, bytes], None]
"""Called on the event loop with each whole frame; it must not raise or block."""


class FrameLoggingTransport(FrameTransport):
    """``inner`` with every frame shown to ``log`` first; everything else passes straight through."""

    def __init__(self, inner: FrameTransport, log: FrameLogger) -> None:
        self._inner = inner
        self._log = log
        self._receiver: FrameReceiver | None = None

    # -- towards the session

    def attach(self, receiver: FrameReceiver) -> None:
        self._receiver = receiver
        self._inner.attach(self)

    def frames_received(self, frames: list[memoryview]) -> None:
        for frame in frames:
            self._log("receive", bytes(frame))
        assert self._receiver is not None
        self._receiver.frames_received(frames)

    def framing_failed(self, exc: ProtocolError) -> None:
        assert self._receiver is not None
        self._receiver.framing_failed(exc)

    def transport_lost(self, exc: BaseException | None) -> None:
        assert self._receiver is not None
        self._receiver.transport_lost(exc)

    # -- towards the wire

    def write_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self._log("send", bytes(frame))
        self._inner.write_frames(frames)

    async def wait_writable(self) -> None:
        await self._inner.wait_writable()

    @property
    def write_paused(self) -> bool:
        return self._inner.write_paused

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def close(self) -> None:
        self._inner.close()

    def abort(self) -> None:
        self._inner.abort()

    async def wait_closed(self) -> None:
        await self._inner.wait_closed()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)
