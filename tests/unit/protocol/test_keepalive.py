"""KEEPALIVE timers, answers and the max-lifetime deadline (KA-1..KA-4, D-6, D-7).

Time is only ever the ``now`` the test passes in; nothing sleeps or reads a clock.
"""

from __future__ import annotations

import pytest

from aiorsocket.errors import ErrorCode
from aiorsocket.frames import ErrorFrame, Frame, KeepaliveFrame, RequestFnfFrame, SetupFrame
from aiorsocket.protocol import Connection, ConnectionClosed, ConnectionConfig, Role
from support.protocol_helpers import feed, frames_out, make_client, make_server, no_text


def run_timers(conn: Connection, until: float) -> list[Frame]:
    """Fire every timer the connection asks for up to ``until``; what it sent meanwhile."""
    sent: list[Frame] = []
    while (deadline := conn.next_timer()) is not None and deadline <= until:
        conn.handle_timer(deadline)
        sent.extend(frames_out(conn))
    return sent


# --------------------------------------------------------------------------- KA-2


def test_ka2_client_sends_keepalive_with_r_at_the_interval() -> None:
    client = make_client(ConnectionConfig(keepalive_interval=10.0, max_lifetime=100.0), now=1000.0)
    assert client.next_timer() == pytest.approx(1010.0)
    client.handle_timer(1009.999)
    assert client.data_to_send() == []
    client.handle_timer(1010.0)
    # §4 example bytes: KEEPALIVE, R=1, position 0, no data.
    assert client.data_to_send() == [bytes.fromhex("00000000 0C80 0000000000000000")]
    assert client.next_timer() == pytest.approx(1020.0)
    client.handle_timer(1020.0)
    assert frames_out(client) == [KeepaliveFrame(0, b"", True)]
    assert client.events() == []


def test_ka2_client_keeps_sending_while_the_server_answers() -> None:
    client = make_client(ConnectionConfig(keepalive_interval=10.0, max_lifetime=25.0))
    sent: list[Frame] = []
    for _ in range(50):
        deadline = client.next_timer()
        assert deadline is not None
        client.handle_timer(deadline)
        sent.extend(frames_out(client))
        feed(client, KeepaliveFrame(0, b"", False), now=deadline)
    assert sent == [KeepaliveFrame(0, b"", True)] * 50
    assert client.events() == []
    assert not client.is_closed


def test_ka2_late_timer_sends_one_keepalive_and_reschedules_from_now() -> None:
    client = make_client(ConnectionConfig(keepalive_interval=10.0, max_lifetime=100.0))
    client.handle_timer(35.0)  # three intervals late
    assert frames_out(client) == [KeepaliveFrame(0, b"", True)]
    assert client.next_timer() == pytest.approx(45.0)


def test_ka2_server_sends_no_keepalives_of_its_own() -> None:
    server = make_server(setup=SetupFrame(1_000, 60_000, "a", "b"))
    assert server.next_timer() == pytest.approx(60.0)  # only the liveness deadline
    server.handle_timer(59.0)
    assert server.data_to_send() == []


def test_ka2_no_timer_before_start_or_after_close() -> None:
    client = Connection(Role.CLIENT)
    assert client.next_timer() is None
    client.handle_timer(1e9)
    assert client.data_to_send() == []
    client.start(0.0)
    assert client.next_timer() is not None
    client.close()
    assert client.next_timer() is None
    client.data_to_send()
    client.handle_timer(1e9)
    assert client.data_to_send() == []


# --------------------------------------------------------------------------- KA-3, D-6, D-7


def test_ka3_server_answers_r1_with_r0_and_the_same_data(server: Connection) -> None:
    feed(server, KeepaliveFrame(12345, b"ping-data", True))
    # D-6: position 0 without resumption, whatever the peer sent.
    assert frames_out(server) == [KeepaliveFrame(0, b"ping-data", False)]
    assert server.events() == []


def test_ka3_r0_keepalive_is_never_answered(server: Connection) -> None:
    feed(server, KeepaliveFrame(0, b"pong", False), KeepaliveFrame(7, b"", False))
    assert server.data_to_send() == []
    assert server.events() == []


def test_d7_client_answers_a_server_keepalive(client: Connection) -> None:
    feed(client, KeepaliveFrame(0, b"server-ping", True))
    assert frames_out(client) == [KeepaliveFrame(0, b"server-ping", False)]
    assert client.events() == []


def test_d7_client_does_not_answer_an_r0_keepalive(client: Connection) -> None:
    feed(client, KeepaliveFrame(0, b"", False))
    assert client.data_to_send() == []


# --------------------------------------------------------------------------- KA-4


def test_ka4_client_declares_a_silent_server_dead_after_max_lifetime() -> None:
    client = make_client(ConnectionConfig(keepalive_interval=10.0, max_lifetime=35.0))
    sent = run_timers(client, until=1000.0)
    assert no_text(sent) == [
        KeepaliveFrame(0, b"", True),
        KeepaliveFrame(0, b"", True),
        KeepaliveFrame(0, b"", True),
        ErrorFrame(0, ErrorCode.CONNECTION_ERROR),
    ]
    assert no_text(client.events()) == [ConnectionClosed(ErrorCode.CONNECTION_ERROR, "", False)]
    assert client.is_closed
    assert client.next_timer() is None


def test_ka4_deadline_is_exact() -> None:
    client = make_client(ConnectionConfig(keepalive_interval=100.0, max_lifetime=35.0))
    assert client.next_timer() == pytest.approx(35.0)
    client.handle_timer(34.999)
    assert client.events() == []
    client.handle_timer(35.0)
    assert no_text(client.events()) == [ConnectionClosed(ErrorCode.CONNECTION_ERROR, "", False)]


def test_ka4_any_frame_from_the_peer_pushes_the_deadline_back() -> None:
    client = make_client(ConnectionConfig(keepalive_interval=100.0, max_lifetime=35.0))
    feed(client, RequestFnfFrame(2, b"alive"), now=30.0)
    client.events()
    assert client.next_timer() == pytest.approx(65.0)
    client.handle_timer(64.0)
    assert not client.is_closed
    client.handle_timer(65.0)
    assert client.is_closed


def test_ka4_server_declares_a_silent_client_dead_after_the_setup_lifetime() -> None:
    server = make_server(setup=SetupFrame(1_000, 5_000, "a", "b"), now=0.0)
    feed(server, KeepaliveFrame(0, b"", True), now=3.0)
    assert frames_out(server) == [KeepaliveFrame(0, b"", False)]
    assert server.next_timer() == pytest.approx(8.0)
    server.handle_timer(7.999)
    assert server.data_to_send() == []
    server.handle_timer(8.0)
    assert no_text(frames_out(server)) == [ErrorFrame(0, ErrorCode.CONNECTION_ERROR)]
    assert no_text(server.events()) == [ConnectionClosed(ErrorCode.CONNECTION_ERROR, "", False)]


def test_ka4_server_waiting_for_setup_times_out_on_its_configured_lifetime() -> None:
    server = Connection(Role.SERVER, ConnectionConfig(max_lifetime=5.0))
    server.start(0.0)
    assert server.next_timer() == pytest.approx(5.0)
    server.handle_timer(5.0)
    assert no_text(frames_out(server)) == [ErrorFrame(0, ErrorCode.CONNECTION_ERROR)]
    assert server.is_closed
