"""Every transport as a test parameter: where a server listens and what TLS each side uses.

Used by the integration and reliability tests that must hold for every transport alike.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiorsocket import TLSConfig
from support.certs import PKI

TRANSPORTS: Final = ("tcp", "tls", "tcp+tls", "ws", "wss", "unix", "local", "quic")
SECURE: Final = frozenset({"tls", "tcp+tls", "wss", "quic"})
_local_names = itertools.count()


@dataclass(frozen=True)
class Endpoint:
    """A server URI for one transport, and the TLS settings of both ends."""

    transport: str
    server_uri: str
    server_ssl: TLSConfig | None
    client_ssl: TLSConfig | None


@contextmanager
def endpoint_for(transport: str, pki: PKI) -> Iterator[Endpoint]:
    """A fresh endpoint (port 0, a new Unix socket path, a new local name) on loopback only."""
    # Unix socket paths are limited to ~100 bytes: pytest's tmp_path can be longer than that.
    directory = Path(tempfile.mkdtemp(prefix="ars-", dir="/tmp"))
    try:
        uri = {
            "tcp": "tcp://127.0.0.1:0",
            "tls": "tls://127.0.0.1:0",
            "tcp+tls": "tcp+tls://127.0.0.1:0",
            "ws": "ws://127.0.0.1:0/rsocket",
            "wss": "wss://127.0.0.1:0/rsocket",
            "unix": f"unix://{directory}/rsocket.sock",
            "local": f"local://test-{next(_local_names)}",
            "quic": "quic://127.0.0.1:0",
        }[transport]
        secure = transport in SECURE
        yield Endpoint(
            transport,
            uri,
            TLSConfig(certfile=pki.server_cert, keyfile=pki.server_key) if secure else None,
            TLSConfig(cafile=pki.ca) if secure else None,
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
