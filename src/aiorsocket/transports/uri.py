"""Turning ``scheme://...`` strings into transports, for clients and servers."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import LocalProtocolError
from .base import FrameTransport
from .tcp import connect_tcp, listen_tcp

SUPPORTED_SCHEMES = ("tcp",)


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_uri(uri: str) -> Endpoint:
    """Validate ``uri`` and split it; errors say what is wrong and what is expected."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise LocalProtocolError(
            f"unsupported URI scheme in {uri!r}; expected one of "
            + ", ".join(f"{s}://HOST:PORT" for s in SUPPORTED_SCHEMES)
        )
    try:
        port = parts.port
    except ValueError:
        raise LocalProtocolError(f"bad port in {uri!r}; expected tcp://HOST:PORT") from None
    if not parts.hostname or port is None:
        raise LocalProtocolError(f"{uri!r} needs a host and a port, e.g. tcp://127.0.0.1:7878")
    return Endpoint(scheme, parts.hostname, port)


async def open_transport(
    uri: str, *, ssl: ssl_module.SSLContext | None = None, max_frame_size: int
) -> FrameTransport:
    endpoint = parse_uri(uri)
    return await connect_tcp(endpoint.host, endpoint.port, ssl=ssl, max_frame_size=max_frame_size)


async def open_listener(
    uri: str,
    on_transport: Callable[[FrameTransport], None],
    *,
    ssl: ssl_module.SSLContext | None = None,
    max_frame_size: int,
) -> asyncio.Server:
    endpoint = parse_uri(uri)
    return await listen_tcp(
        endpoint.host, endpoint.port, on_transport, ssl=ssl, max_frame_size=max_frame_size
    )
