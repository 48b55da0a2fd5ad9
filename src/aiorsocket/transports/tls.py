"""TLS settings for ``tls://``, ``tcp+tls://``, ``wss://`` and ``quic://``, on the standard ``ssl`` module.

Everywhere an ``ssl=`` argument is taken it may be a :class:`TLSConfig` (files on
disk, usable by every secure transport) or a ready :class:`ssl.SSLContext` (TCP
and WebSocket only: aioquic does its own TLS and cannot use one).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import TypeAlias

from ..errors import LocalProtocolError

StrPath: TypeAlias = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """Certificates and verification, for either side of a connection.

    A client verifies the server's certificate and host name against ``cafile``
    (else the system's CAs) unless ``verify`` is False, and presents
    ``certfile``/``keyfile`` when the server asks for a client certificate.

    A server needs ``certfile``/``keyfile``.  With ``cafile`` it asks every client
    for a certificate signed by that CA and verifies it; ``require_client_cert``
    refuses clients that have none.  A verified client certificate reaches the
    acceptor as :attr:`aiorsocket.ConnectionSetup.peercert`.
    """

    certfile: StrPath | None = None
    keyfile: StrPath | None = None
    cafile: StrPath | None = None
    verify: bool = True
    require_client_cert: bool = False
    server_hostname: str | None = None
    """Client: the name the server's certificate must carry (default: the URI's host)."""

    def __post_init__(self) -> None:
        if self.keyfile is not None and self.certfile is None:
            raise LocalProtocolError("TLSConfig: keyfile was given without certfile")
        if self.require_client_cert and self.cafile is None:
            raise LocalProtocolError(
                "TLSConfig: require_client_cert needs cafile, the CA that signs client certificates"
            )
        for field in ("certfile", "keyfile", "cafile"):
            path = getattr(self, field)
            if path is not None and not os.path.isfile(path):
                raise LocalProtocolError(f"TLSConfig.{field}: no such file: {os.fspath(path)!r}")

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.certfile is not None:
            self._load_chain(context)
        return context

    def server_context(self) -> ssl.SSLContext:
        if self.certfile is None:
            raise LocalProtocolError("a TLS server needs TLSConfig(certfile=..., keyfile=...)")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._load_chain(context)
        if self.cafile is not None:
            context.load_verify_locations(cafile=self.cafile)
            context.verify_mode = ssl.CERT_REQUIRED if self.require_client_cert else ssl.CERT_OPTIONAL
        return context

    def _load_chain(self, context: ssl.SSLContext) -> None:
        assert self.certfile is not None
        try:
            context.load_cert_chain(self.certfile, self.keyfile)
        except (ssl.SSLError, OSError) as exc:
            raise LocalProtocolError(
                f"TLSConfig: cannot load certificate {os.fspath(self.certfile)!r}"
                + (f" with key {os.fspath(self.keyfile)!r}" if self.keyfile is not None else "")
                + f": {exc}"
            ) from exc


SSLOption: TypeAlias = ssl.SSLContext | TLSConfig | None


def client_ssl_context(option: SSLOption) -> ssl.SSLContext:
    """The context a client uses: verification is on unless the caller turned it off."""
    if option is None:
        return ssl.create_default_context()
    if isinstance(option, TLSConfig):
        return option.client_context()
    return option


def server_ssl_context(option: SSLOption, uri: str) -> ssl.SSLContext:
    if option is None:
        raise LocalProtocolError(
            f"{uri} is a TLS endpoint: pass ssl=TLSConfig(certfile=..., keyfile=...) or an SSLContext"
        )
    if isinstance(option, TLSConfig):
        return option.server_context()
    return option


def server_hostname(option: SSLOption, host: str) -> str:
    if isinstance(option, TLSConfig) and option.server_hostname is not None:
        return option.server_hostname
    return host
