"""Turning ``scheme://...`` strings into transports and listeners: one registry entry per scheme.

``ssl=`` (a :class:`~aiorsocket.transports.tls.TLSConfig` or an ``ssl.SSLContext``)
belongs to the secure schemes.  A server applies it to its secure URIs only, so one
server can listen on ``tcp://`` and ``tls://`` at once; a client given ``ssl=`` for a
plain URI is refused, because silently connecting unencrypted would be worse.

Transports with third-party dependencies (``ws``/``wss`` on websockets, ``quic`` on
aioquic, ``aeron+udp`` on our Aeron binding) are imported only when their scheme is used, so
the core needs none of them.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from ..errors import LocalProtocolError
from .aeron_client import default_directory
from .base import FrameTransport, Listener
from .local import connect_local, listen_local
from .stream import SocketListener
from .tcp import connect_tcp, listen_tcp
from .tls import SSLOption, client_ssl_context, server_hostname, server_ssl_context
from .unix import connect_unix, listen_unix

OnTransport = Callable[[FrameTransport], None]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed URI: ``host``/``port`` for network schemes, ``path`` for the rest."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""
    """WebSocket request path (with any query), Unix socket path, local name, or the options
    (``?key=value``) of a scheme that takes them."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers of a WebSocket upgrade request (client side)."""

    def __str__(self) -> str:
        if not self.host:
            return f"{self.scheme}://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


@dataclass(frozen=True, slots=True)
class Scheme:
    """How one URI scheme connects and listens."""

    name: str
    usage: str
    address: Literal["host", "path"]
    secure: bool
    connect: Callable[[Endpoint, SSLOption, int], Awaitable[FrameTransport]]
    listen: Callable[[Endpoint, OnTransport, SSLOption, int], Awaitable[Listener]]
    default_port: int | None = None
    takes_path: bool = False
    options: tuple[str, ...] = ()
    """Query keys the scheme accepts (without taking a path)."""


def _optional(module: str, extra: str, scheme: str) -> ModuleType:
    try:
        return importlib.import_module(f"aiorsocket.transports.{module}")
    except ImportError as exc:
        raise LocalProtocolError(
            f"{scheme}:// needs the {exc.name} package: pip install 'aiorsocket[{extra}]'"
        ) from exc


def _plain_client(endpoint: Endpoint, ssl: SSLOption, secure_scheme: str) -> None:
    if ssl is not None:
        raise LocalProtocolError(
            f"ssl= was given but {endpoint} is not encrypted; use {secure_scheme}:// for TLS"
        )


def _socket_listener(endpoint: Endpoint, server: asyncio.Server) -> SocketListener:
    """Wraps ``server`` with the URI it really bound (port 0 resolved)."""
    host, port = server.sockets[0].getsockname()[:2]
    return SocketListener(server, str(Endpoint(endpoint.scheme, host, port, endpoint.path)))


# -- tcp / tls ------------------------------------------------------------------------


async def _connect_tcp(endpoint: Endpoint, ssl: SSLOption, max_frame_size: int) -> FrameTransport:
    _plain_client(endpoint, ssl, "tls")
    return await connect_tcp(endpoint.host, endpoint.port, max_frame_size=max_frame_size)


async def _connect_tls(endpoint: Endpoint, ssl: SSLOption, max_frame_size: int) -> FrameTransport:
    return await connect_tcp(
        endpoint.host,
        endpoint.port,
        ssl=client_ssl_context(ssl),
        server_hostname=server_hostname(ssl, endpoint.host),
        max_frame_size=max_frame_size,
    )


async def _listen_tcp(
    endpoint: Endpoint, on_transport: OnTransport, ssl: SSLOption, max_frame_size: int
) -> Listener:
    context = server_ssl_context(ssl, str(endpoint)) if SCHEMES[endpoint.scheme].secure else None
    server = await listen_tcp(
        endpoint.host, endpoint.port, on_transport, ssl=context, max_frame_size=max_frame_size
    )
    return _socket_listener(endpoint, server)


# -- ws / wss -------------------------------------------------------------------------


async def _connect_ws(endpoint: Endpoint, ssl: SSLOption, max_frame_size: int) -> FrameTransport:
    websocket = _optional("websocket", "ws", endpoint.scheme)
    secure = SCHEMES[endpoint.scheme].secure
    if not secure:
        _plain_client(endpoint, ssl, "wss")
    transport: FrameTransport = await websocket.connect_websocket(
        str(endpoint),
        endpoint.host,
        endpoint.port,
        ssl=client_ssl_context(ssl) if secure else None,
        server_hostname=server_hostname(ssl, endpoint.host),
        max_frame_size=max_frame_size,
        headers=endpoint.headers,
    )
    return transport


async def _listen_ws(
    endpoint: Endpoint, on_transport: OnTransport, ssl: SSLOption, max_frame_size: int
) -> Listener:
    websocket = _optional("websocket", "ws", endpoint.scheme)
    context = server_ssl_context(ssl, str(endpoint)) if SCHEMES[endpoint.scheme].secure else None
    server = await websocket.listen_websocket(
        endpoint.host,
        endpoint.port,
        urlsplit(endpoint.path).path,
        on_transport,
        ssl=context,
        max_frame_size=max_frame_size,
    )
    return _socket_listener(endpoint, server)


# -- unix / local ---------------------------------------------------------------------


async def _connect_unix(endpoint: Endpoint, ssl: SSLOption, max_frame_size: int) -> FrameTransport:
    _plain_client(endpoint, ssl, "tls")
    return await connect_unix(endpoint.path, max_frame_size=max_frame_size)


async def _listen_unix(
    endpoint: Endpoint, on_transport: OnTransport, ssl: SSLOption, max_frame_size: int
) -> Listener:
    return await listen_unix(endpoint.path, on_transport, max_frame_size=max_frame_size)


async def _connect_local(endpoint: Endpoint, ssl: SSLOption, max_frame_size: int) -> FrameTransport:
    if ssl is not None:
        raise LocalProtocolError(f"ssl= was given but {endpoint} never leaves this process")
    return await connect_local(endpoint.path, max_frame_size=max_frame_size)


async def _listen_local(
    endpoint: Endpoint, on_transport: OnTransport, ssl: SSLOption, max_frame_size: int
) -> Listener:
    return await listen_local(endpoint.path, on_transport, max_frame_size=max_frame_size)


# -- quic -----------------------------------------------------------------------------


async def _connect_quic(endpoint: Endpoint, ssl: SSLOption, max_frame_size: int) -> FrameTransport:
    quic = _optional("quic", "quic", endpoint.scheme)
    configuration = quic.client_configuration(ssl, str(endpoint), server_hostname(ssl, endpoint.host))
    transport: FrameTransport = await quic.connect_quic(
        endpoint.host, endpoint.port, configuration, max_frame_size=max_frame_size
    )
    return transport


async def _listen_quic(
    endpoint: Endpoint, on_transport: OnTransport, ssl: SSLOption, max_frame_size: int
) -> Listener:
    quic = _optional("quic", "quic", endpoint.scheme)
    listener: Listener = await quic.listen_quic(
        endpoint.host,
        endpoint.port,
        quic.server_configuration(ssl, str(endpoint)),
        on_transport,
        scheme=endpoint.scheme,
        max_frame_size=max_frame_size,
    )
    return listener


# -- aeron+udp --------------------------------------------------------------------------


def _aeron_options(endpoint: Endpoint) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(endpoint.path[1:]).items()}


def _aeron_directory(options: dict[str, str]) -> str:
    """The media driver to use: the URI's ``?dir=``, else ``$AERON_DIR``, else Aeron's default."""
    return options.get("dir") or default_directory()


async def _connect_aeron(endpoint: Endpoint, ssl: SSLOption, max_frame_size: int) -> FrameTransport:
    if ssl is not None:
        raise LocalProtocolError(f"ssl= was given but {endpoint} is not encrypted: Aeron has no TLS")
    options = _aeron_options(endpoint)
    mtu = options.get("mtu")
    if mtu is not None and not mtu.isdigit():
        raise LocalProtocolError(f"{endpoint}: mtu must be a number of bytes")
    aeron = _optional("aeron", "aeron", endpoint.scheme)
    transport: FrameTransport = await aeron.connect_aeron(
        endpoint.host,
        endpoint.port,
        directory=_aeron_directory(options),
        mtu=int(mtu) if mtu is not None else None,
        max_frame_size=max_frame_size,
    )
    return transport


async def _listen_aeron(
    endpoint: Endpoint, on_transport: OnTransport, ssl: SSLOption, max_frame_size: int
) -> Listener:
    options = _aeron_options(endpoint)
    if "mtu" in options:
        raise LocalProtocolError(
            f"{endpoint}: mtu is each client's choice (for both directions); serve without it"
        )
    aeron = _optional("aeron", "aeron", endpoint.scheme)
    listener: Listener = await aeron.listen_aeron(
        endpoint.host,
        endpoint.port,
        on_transport,
        directory=_aeron_directory(options),
        scheme=endpoint.scheme,
        query=endpoint.path,
        max_frame_size=max_frame_size,
    )
    return listener


SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (
        Scheme("tcp", "tcp://HOST:PORT", "host", False, _connect_tcp, _listen_tcp),
        Scheme("tls", "tls://HOST:PORT", "host", True, _connect_tls, _listen_tcp),
        Scheme("tcp+tls", "tcp+tls://HOST:PORT", "host", True, _connect_tls, _listen_tcp),
        Scheme("ws", "ws://HOST[:PORT]/PATH", "host", False, _connect_ws, _listen_ws, 80, True),
        Scheme("wss", "wss://HOST[:PORT]/PATH", "host", True, _connect_ws, _listen_ws, 443, True),
        Scheme("unix", "unix:///PATH", "path", False, _connect_unix, _listen_unix),
        Scheme("local", "local://NAME", "path", False, _connect_local, _listen_local),
        Scheme("quic", "quic://HOST:PORT", "host", True, _connect_quic, _listen_quic),
        Scheme(
            "aeron+udp",
            "aeron+udp://HOST:PORT[?dir=AERON_DIR][&mtu=BYTES]",
            "host",
            False,
            _connect_aeron,
            _listen_aeron,
            options=("dir", "mtu"),
        ),
    )
}
SUPPORTED_SCHEMES = tuple(SCHEMES)


def parse_uri(uri: str) -> Endpoint:
    """Validate ``uri`` and split it; errors say what is wrong and what is expected."""
    parts = urlsplit(uri)
    entry = SCHEMES.get(parts.scheme.lower())
    if entry is None:
        raise LocalProtocolError(
            f"unsupported URI scheme in {uri!r}; expected one of "
            + ", ".join(scheme.usage for scheme in SCHEMES.values())
        )
    if entry.address == "path":
        path = parts.netloc + parts.path
        if not path:
            raise LocalProtocolError(f"{uri!r} names nothing; expected {entry.usage}")
        return Endpoint(entry.name, path=path)
    try:
        port = parts.port
    except ValueError:
        raise LocalProtocolError(f"bad port in {uri!r}; expected {entry.usage}") from None
    if port is None:
        port = entry.default_port
    if not parts.hostname or port is None:
        raise LocalProtocolError(f"{uri!r} needs a host and a port; expected {entry.usage}")
    if not entry.takes_path:
        if parts.path not in ("", "/"):
            raise LocalProtocolError(f"{uri!r}: {entry.name}:// takes no path; expected {entry.usage}")
        if not parts.query:
            return Endpoint(entry.name, parts.hostname, port)
        unknown = set(parse_qs(parts.query, keep_blank_values=True)) - set(entry.options)
        if unknown or not entry.options:
            raise LocalProtocolError(
                f"{uri!r}: {entry.name}:// does not take {', '.join(sorted(unknown)) or 'a query'}; "
                f"expected {entry.usage}"
            )
        return Endpoint(entry.name, parts.hostname, port, f"?{parts.query}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Endpoint(entry.name, parts.hostname, port, path)


async def open_transport(
    uri: str, *, ssl: SSLOption = None, max_frame_size: int, headers: Sequence[tuple[str, str]] = ()
) -> FrameTransport:
    """Connect to ``uri``; ``headers`` go in a WebSocket upgrade request (``ws``/``wss`` only)."""
    endpoint = parse_uri(uri)
    if headers:
        if endpoint.scheme not in ("ws", "wss"):
            raise LocalProtocolError(
                f"headers travel in a WebSocket upgrade request; {endpoint.scheme}:// has none (use ws:// or wss://)"
            )
        endpoint = replace(endpoint, headers=tuple(headers))
    return await SCHEMES[endpoint.scheme].connect(endpoint, ssl, max_frame_size)


async def open_listener(
    uri: str, on_transport: OnTransport, *, ssl: SSLOption = None, max_frame_size: int
) -> Listener:
    endpoint = parse_uri(uri)
    return await SCHEMES[endpoint.scheme].listen(endpoint, on_transport, ssl, max_frame_size)
