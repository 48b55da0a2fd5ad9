"""TCP client and server transports (IPv4 and IPv6), with TLS when given an SSLContext."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Callable

from ..frames.types import MAX_FRAME_SIZE
from .base import FrameTransport
from .stream import StreamFrameTransport


async def connect_tcp(
    host: str,
    port: int,
    *,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    max_frame_size: int = MAX_FRAME_SIZE,
) -> StreamFrameTransport:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: StreamFrameTransport(max_frame_size=max_frame_size),
        host,
        port,
        ssl=ssl,
        server_hostname=server_hostname if ssl is not None else None,
    )
    return protocol


async def listen_tcp(
    host: str,
    port: int,
    on_transport: Callable[[FrameTransport], None],
    *,
    ssl: ssl_module.SSLContext | None = None,
    max_frame_size: int = MAX_FRAME_SIZE,
    backlog: int = 1024,
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: StreamFrameTransport(max_frame_size=max_frame_size, on_connected=on_transport),
        host,
        port,
        ssl=ssl,
        backlog=backlog,
        reuse_address=True,
    )
