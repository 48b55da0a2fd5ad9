"""TLS for tls:// (and tcp+tls://), wss:// and quic://: verification on by default, custom CAs,
host names, and mutual TLS with the client certificate handed to the setup acceptor.

Every certificate comes from a CA made for this run (support/certs.py).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest

import aiorsocket
from aiorsocket import ConnectionSetup, Payload, TLSConfig
from aiorsocket.errors import ConnectionLostError, LocalProtocolError
from support.certs import PKI, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


class Echo(aiorsocket.RequestHandler):
    async def request_response(self, payload: Payload) -> Payload:
        return Payload(b"echo:" + payload.data)


def server_tls(pki: PKI, **options: Any) -> TLSConfig:
    return TLSConfig(certfile=pki.server_cert, keyfile=pki.server_key, **options)


@pytest.fixture(params=["tls", "wss", "quic"])
async def tls_server(request: pytest.FixtureRequest, pki: PKI) -> AsyncIterator[str]:
    path = "/rsocket" if request.param == "wss" else ""
    async with aiorsocket.serve(Echo(), f"{request.param}://127.0.0.1:0{path}", ssl=server_tls(pki)) as srv:
        yield srv.bound_uris[0]


async def test_client_verifies_the_server_by_default(tls_server: str) -> None:
    """No ssl= means the system's CAs, which do not know this run's test CA: refused."""
    with pytest.raises((ssl.SSLCertVerificationError, ConnectionLostError)) as info:
        await aiorsocket.connect(tls_server)
    assert "certificate" in str(info.value).lower()


async def test_custom_ca_is_trusted(tls_server: str, pki: PKI) -> None:
    async with aiorsocket.connect(tls_server, ssl=TLSConfig(cafile=pki.ca)) as rs:
        assert (await rs.request_response(Payload(b"hi"))).data == b"echo:hi"


async def test_a_ca_that_did_not_sign_the_server_is_refused(tls_server: str, pki: PKI) -> None:
    with pytest.raises((ssl.SSLCertVerificationError, ConnectionLostError)):
        await aiorsocket.connect(tls_server, ssl=TLSConfig(cafile=pki.other_ca))


async def test_the_host_name_must_match_the_certificate(tls_server: str, pki: PKI) -> None:
    with pytest.raises((ssl.SSLCertVerificationError, ConnectionLostError)) as info:
        await aiorsocket.connect(tls_server, ssl=TLSConfig(cafile=pki.ca, server_hostname="rsocket.example"))
    assert "rsocket.example" in str(info.value)


async def test_localhost_name_verifies(tls_server: str, pki: PKI) -> None:
    uri = tls_server.replace("127.0.0.1", "localhost")
    async with aiorsocket.connect(uri, ssl=TLSConfig(cafile=pki.ca)) as rs:
        assert (await rs.request_response(Payload(b"hi"))).data == b"echo:hi"


async def test_verification_can_be_turned_off_explicitly(tls_server: str) -> None:
    async with aiorsocket.connect(tls_server, ssl=TLSConfig(verify=False)) as rs:
        assert (await rs.request_response(Payload(b"hi"))).data == b"echo:hi"


async def test_a_ready_sslcontext_is_used_as_given(pki: PKI) -> None:
    context = ssl.create_default_context(cafile=str(pki.ca))
    async with (
        aiorsocket.serve(Echo(), "tls://127.0.0.1:0", ssl=server_tls(pki).server_context()) as srv,
        aiorsocket.connect(srv.bound_uris[0], ssl=context) as rs,
    ):
        assert (await rs.request_response(Payload(b"hi"))).data == b"echo:hi"


# --- mutual TLS (tls:// and wss://; aioquic cannot verify client certificates) -------------------


class CertAcceptor:
    """Authenticates by client certificate: the acceptor sees what the TLS layer verified."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any] | None] = []

    async def __call__(self, setup: ConnectionSetup, requester: aiorsocket.RSocket) -> Echo:
        self.seen.append(setup.peercert)
        if setup.peercert is None:
            raise aiorsocket.RejectedSetupError("a client certificate is required")
        subject = dict(field for rdn in setup.peercert["subject"] for field in rdn)
        if subject.get("commonName") != "client-1":
            raise aiorsocket.RejectedSetupError(f"unknown client {subject.get('commonName')}")
        return Echo()


@pytest.mark.parametrize("scheme", ["tls", "wss"])
async def test_mutual_tls_hands_the_client_certificate_to_the_acceptor(pki: PKI, scheme: str) -> None:
    acceptor = CertAcceptor()
    path = "/rsocket" if scheme == "wss" else ""
    tls = server_tls(pki, cafile=pki.ca, require_client_cert=True)
    async with aiorsocket.serve(acceptor, f"{scheme}://127.0.0.1:0{path}", ssl=tls) as srv:
        client_tls = TLSConfig(cafile=pki.ca, certfile=pki.client_cert, keyfile=pki.client_key)
        async with aiorsocket.connect(srv.bound_uris[0], ssl=client_tls) as rs:
            assert (await rs.request_response(Payload(b"me"))).data == b"echo:me"
    (peercert,) = acceptor.seen
    assert peercert is not None
    assert (("commonName", "client-1"),) in peercert["subject"]


@pytest.mark.parametrize("scheme", ["tls", "wss"])
@pytest.mark.parametrize("who", ["no certificate", "stranger"])
async def test_required_client_certificate_refuses_others(pki: PKI, scheme: str, who: str) -> None:
    acceptor = CertAcceptor()
    path = "/rsocket" if scheme == "wss" else ""
    tls = server_tls(pki, cafile=pki.ca, require_client_cert=True)
    client_tls = (
        TLSConfig(cafile=pki.ca)
        if who == "no certificate"
        else TLSConfig(cafile=pki.ca, certfile=pki.stranger_cert, keyfile=pki.stranger_key)
    )
    async with aiorsocket.serve(acceptor, f"{scheme}://127.0.0.1:0{path}", ssl=tls) as srv:
        # TLS 1.3 reports a refused client certificate after the client's handshake ends, so
        # the refusal surfaces either at connect or at the first request.
        with pytest.raises((ssl.SSLError, ConnectionLostError, ConnectionResetError)):
            async with aiorsocket.connect(srv.bound_uris[0], ssl=client_tls) as rs:
                await rs.request_response(Payload(b"me"))
    assert acceptor.seen == []


async def test_optional_client_certificate_lets_anonymous_clients_in(pki: PKI) -> None:
    seen: list[object] = []

    async def acceptor(setup: ConnectionSetup, requester: aiorsocket.RSocket) -> Echo:
        seen.append(setup.peercert)
        return Echo()

    async with (
        aiorsocket.serve(acceptor, "tls://127.0.0.1:0", ssl=server_tls(pki, cafile=pki.ca)) as srv,
        aiorsocket.connect(srv.bound_uris[0], ssl=TLSConfig(cafile=pki.ca)) as rs,
    ):
        await rs.request_response(Payload(b"anon"))
    assert seen == [None]


# --- configuration errors say what to do ---------------------------------------------------------


def test_tlsconfig_is_validated_when_built(pki: PKI) -> None:
    with pytest.raises(LocalProtocolError, match="keyfile was given without certfile"):
        TLSConfig(keyfile=pki.server_key)
    with pytest.raises(LocalProtocolError, match="require_client_cert needs cafile"):
        TLSConfig(certfile=pki.server_cert, keyfile=pki.server_key, require_client_cert=True)
    with pytest.raises(LocalProtocolError, match="no such file"):
        TLSConfig(cafile="/nonexistent/ca.pem")
    with pytest.raises(LocalProtocolError, match="cannot load certificate"):
        TLSConfig(certfile=pki.server_cert, keyfile=pki.client_key).server_context()


@pytest.mark.parametrize("uri", ["tls://127.0.0.1:0", "wss://127.0.0.1:0/rsocket", "quic://127.0.0.1:0"])
async def test_a_tls_server_without_certificate_is_refused(uri: str) -> None:
    with pytest.raises(LocalProtocolError, match="certfile"):
        await aiorsocket.serve(Echo(), uri)


@pytest.mark.parametrize("uri", ["tcp://127.0.0.1:1", "ws://127.0.0.1:1/rsocket", "local://x"])
async def test_ssl_for_a_plain_uri_is_refused_rather_than_ignored(pki: PKI, uri: str) -> None:
    with pytest.raises(LocalProtocolError, match="ssl= was given"):
        await aiorsocket.connect(uri, ssl=TLSConfig(cafile=pki.ca))


async def test_quic_refuses_what_aioquic_cannot_do(pki: PKI) -> None:
    with pytest.raises(LocalProtocolError, match=r"cannot use an ssl\.SSLContext"):
        await aiorsocket.connect("quic://127.0.0.1:1", ssl=ssl.create_default_context())
    with pytest.raises(LocalProtocolError, match="no mutual TLS"):
        await aiorsocket.serve(Echo(), "quic://127.0.0.1:0", ssl=server_tls(pki, cafile=pki.ca))
