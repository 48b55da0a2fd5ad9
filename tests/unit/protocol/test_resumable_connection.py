"""The Connection's part in resumption: the SETUP token, accepting it, and a silent peer
costing only the link (SU-6, RE-8, RE-12, KA-4 under §3.14)."""

from __future__ import annotations

import pytest

from aiorsocket.errors import ErrorCode, LocalProtocolError
from aiorsocket.frames import ErrorFrame, KeepaliveFrame, SetupFrame
from aiorsocket.protocol import Connection, ConnectionConfig, ConnectionState, PeerSilent, Role, SetupReceived
from support.protocol_helpers import feed, frames_out, make_client, make_server

TOKEN = b"token"
RESUMABLE = ConnectionConfig(resumable=True, resume_token=TOKEN, keepalive_interval=1, max_lifetime=3)


def test_re4_a_resumable_client_sends_its_token_in_setup() -> None:
    client = Connection(Role.CLIENT, RESUMABLE)
    client.start(0.0)
    (setup,) = frames_out(client)
    assert isinstance(setup, SetupFrame)
    assert setup.resume_token == TOKEN


def test_su6_a_resumable_server_takes_a_setup_with_a_token() -> None:
    server = Connection(Role.SERVER, ConnectionConfig(resumable=True))
    server.start(0.0)
    setup = SetupFrame(1000, 3000, "a", "b", resume_token=TOKEN)
    feed(server, setup)
    assert server.events() == [SetupReceived(setup)]
    server.accept_setup()
    assert server.state is ConnectionState.ESTABLISHED


def test_su6_a_server_that_cannot_resume_refuses_the_token() -> None:
    server = Connection(Role.SERVER)
    server.start(0.0)
    feed(server, SetupFrame(1000, 3000, "a", "b", resume_token=TOKEN))
    assert frames_out(server) == [
        ErrorFrame(0, ErrorCode.REJECTED_SETUP, b"resumption is not supported (SU-6)")
    ]
    assert server.is_closed


def test_ka4_a_silent_peer_costs_a_resumable_connection_only_its_link() -> None:
    client = make_client(RESUMABLE)
    client.handle_timer(1.0)
    assert frames_out(client) == [KeepaliveFrame(0, b"", True)]
    client.handle_timer(3.5)
    assert client.events() == [PeerSilent(3500)]
    assert client.state is ConnectionState.ESTABLISHED
    # The clock starts over: the next report comes a whole max lifetime later.
    assert client.next_timer() is not None
    client.handle_timer(6.0)
    assert client.events() == []


def test_ka4_without_resumption_a_silent_peer_ends_the_connection() -> None:
    client = make_client(ConnectionConfig(keepalive_interval=1, max_lifetime=3))
    client.handle_timer(3.5)
    assert client.is_closed
    assert frames_out(client)[-1] == ErrorFrame(
        0, ErrorCode.CONNECTION_ERROR, b"no keepalive from the peer for 3500 ms (max lifetime 3000 ms)"
    )


def test_re8_closing_a_resumable_connection_tells_the_peer_the_session_is_over() -> None:
    server = make_server(ConnectionConfig(resumable=True))
    server.close()
    assert frames_out(server) == [ErrorFrame(0, ErrorCode.CONNECTION_ERROR, b"session closed")]


def test_closing_a_plain_connection_sends_nothing() -> None:
    server = make_server()
    server.close()
    assert frames_out(server) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resume_token": TOKEN}, "a resume_token needs resumable=True"),
        ({"resumable": True, "resume_token": b""}, "1..65535 bytes, not 0"),
        ({"resumable": True, "resume_token": b"x" * 65536}, "1..65535 bytes, not 65536"),
    ],
)
def test_re12_bad_resume_settings_are_refused_where_written(options: dict[str, object], message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        ConnectionConfig(**options)  # type: ignore[arg-type]


def test_ka4_a_resumed_link_starts_the_liveness_clock_over() -> None:
    """The silence of the old link must not count against the new one (one resume, not two)."""
    client = make_client(RESUMABLE)
    client.link_resumed(2.9)
    client.handle_timer(3.5)
    assert client.events() == []
    client.handle_timer(5.9)
    assert client.events() == [PeerSilent(3000)]
