"""What every transport offers the session: whole frames in, whole frames out.

A transport never interprets a frame (design.md): byte-stream transports add and
strip the u24 length prefix, message transports map one message to one frame.
"""

from __future__ import annotations

import abc
import asyncio
from typing import Any, Protocol

from ..errors import ProtocolError


class FrameReceiver(Protocol):
    """The session side of a transport; every method is called on the event loop."""

    def frames_received(self, frames: list[memoryview]) -> None: ...

    def framing_failed(self, exc: ProtocolError) -> None:
        """The byte stream lost its framing (e.g. an oversized length prefix, FL-1)."""

    def transport_lost(self, exc: BaseException | None) -> None: ...


class WriteGate:
    """Where producers wait while a transport's send buffer is over its high-water mark.

    The transport pauses it past the high-water mark, resumes it below the low one, and
    closes it when it ends, which lets every waiter go for good.
    """

    __slots__ = ("_closed", "_waiter", "paused")

    def __init__(self) -> None:
        self.paused = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()

    async def wait(self) -> None:
        while self.paused and not self._closed:
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class FrameTransport(abc.ABC):
    """One connected transport carrying RSocket frames."""

    @abc.abstractmethod
    def attach(self, receiver: FrameReceiver) -> None:
        """Start delivering frames to ``receiver``."""

    @abc.abstractmethod
    def write_frames(self, frames: list[bytes]) -> None:
        """Queue whole frames for sending, in order."""

    @abc.abstractmethod
    async def wait_writable(self) -> None:
        """Return once the transport's send buffer is below its high-water mark."""

    @property
    @abc.abstractmethod
    def write_paused(self) -> bool:
        """True while the send buffer is over its high-water mark."""

    @abc.abstractmethod
    def pause_reading(self) -> None: ...

    @abc.abstractmethod
    def resume_reading(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Flush what is queued, then close."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Close at once, dropping anything queued."""

    @abc.abstractmethod
    async def wait_closed(self) -> None: ...

    @abc.abstractmethod
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Transport details: ``peername``, ``sockname``, ``ssl_object``, ``peercert``..."""


class Listener(abc.ABC):
    """One bound server endpoint that hands each accepted connection to the server."""

    @property
    @abc.abstractmethod
    def uri(self) -> str:
        """The URI actually bound: port 0 is replaced by the port the system picked."""

    @property
    @abc.abstractmethod
    def addresses(self) -> list[Any]:
        """Bound addresses: ``(host, port, ...)`` tuples, a path for Unix sockets."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop accepting; connections already handed over stay open."""

    @abc.abstractmethod
    async def wait_closed(self) -> None:
        """Return once the listener has released what it holds (sockets, files)."""
