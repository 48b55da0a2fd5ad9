"""Unix domain sockets (``unix:///path``) with the TCP framing: a u24 length prefix per frame (§4)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from ..frames.types import MAX_FRAME_SIZE
from .base import FrameTransport
from .stream import SocketListener, StreamFrameTransport


async def connect_unix(path: str, *, max_frame_size: int = MAX_FRAME_SIZE) -> StreamFrameTransport:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_unix_connection(
        lambda: StreamFrameTransport(max_frame_size=max_frame_size), path
    )
    return protocol


class UnixListener(SocketListener):
    """Removes its socket file on close, unless something else has replaced it meanwhile."""

    def __init__(self, server: asyncio.Server, path: str) -> None:
        super().__init__(server, f"unix://{path}")
        self._path = path
        stat = os.stat(path)
        self._identity = (stat.st_dev, stat.st_ino)

    def close(self) -> None:
        super().close()
        with contextlib.suppress(FileNotFoundError):
            stat = os.stat(self._path)
            if (stat.st_dev, stat.st_ino) == self._identity:
                os.unlink(self._path)


async def listen_unix(
    path: str,
    on_transport: Callable[[FrameTransport], None],
    *,
    max_frame_size: int = MAX_FRAME_SIZE,
    backlog: int = 1024,
) -> UnixListener:
    loop = asyncio.get_running_loop()
    # asyncio removes a stale socket file left by a previous run before binding.
    server = await loop.create_unix_server(
        lambda: StreamFrameTransport(max_frame_size=max_frame_size, on_connected=on_transport),
        path,
        backlog=backlog,
    )
    return UnixListener(server, path)
