"""Leasing in the sans-IO connection (checklist §3.13 LE-1..LE-6, SU-9, D-5, D-18, FR-7).

Time is whatever ``now`` the test passes: TTLs are checked to the instant, with no clock.
"""

from __future__ import annotations

import dataclasses

import pytest

from aiorsocket.errors import ErrorCode, LocalProtocolError, MissingLeaseError
from aiorsocket.frames import (
    CancelFrame,
    ErrorFrame,
    Frame,
    LeaseFrame,
    MetadataPushFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    SetupFrame,
)
from aiorsocket.frames.types import MAX_U31
from aiorsocket.protocol import (
    Connection,
    ConnectionConfig,
    ConnectionState,
    LeaseInfo,
    LeaseReceived,
    MetadataPushReceived,
    PayloadReceived,
    RequestKind,
    RequestNReceived,
    RequestReceived,
    Role,
    SetupReceived,
)
from support.protocol_helpers import DEFAULT_SETUP, Pair, feed, frames_out, make_client, make_server, no_text

LEASING = ConnectionConfig(lease=True)
LEASE_SETUP = dataclasses.replace(DEFAULT_SETUP, lease=True)


def leased_client() -> Connection:
    """A started client that asked for leasing; its SETUP is off the queue."""
    return make_client(LEASING)


def leased_server() -> Connection:
    """A server that accepted a SETUP with L at t=0 and has granted nothing yet."""
    return make_server(LEASING, LEASE_SETUP)


def granted_server(ttl: float, requests: int, now: float = 0.0) -> Connection:
    server = leased_server()
    assert server.send_lease(ttl, requests, now=now) is True
    server.data_to_send()
    return server


def rejection(stream_id: int) -> ErrorFrame:
    """ERROR[REJECTED] on ``stream_id``, text blanked (compare through no_text)."""
    return ErrorFrame(stream_id, ErrorCode.REJECTED, b"")


def error_text(frames: list[Frame]) -> str:
    [frame] = frames
    assert isinstance(frame, ErrorFrame)
    return frame.data.decode()


# --------------------------------------------------------------------------- SU-9: negotiation


def test_su9_client_with_leasing_sends_setup_with_the_lease_flag() -> None:
    client = Connection(Role.CLIENT, LEASING)
    client.start(0.0)
    [setup] = frames_out(client)
    assert isinstance(setup, SetupFrame)
    assert setup.lease is True
    assert client.leasing


def test_su9_client_without_leasing_sends_no_lease_flag() -> None:
    client = Connection(Role.CLIENT)
    client.start(0.0)
    [setup] = frames_out(client)
    assert isinstance(setup, SetupFrame)
    assert setup.lease is False
    assert not client.leasing


def test_su9_server_with_leasing_accepts_a_setup_with_the_lease_flag() -> None:
    server = Connection(Role.SERVER, LEASING)
    server.start(0.0)
    feed(server, LEASE_SETUP)
    assert server.events() == [SetupReceived(LEASE_SETUP)]
    server.accept_setup()
    assert server.state is ConnectionState.ESTABLISHED
    assert server.leasing
    assert server.data_to_send() == []


def test_su9_leasing_server_serves_a_setup_without_the_lease_flag_without_leases() -> None:
    """Our choice: leasing is on only when the client asked for it (SU-9).

    A client that sent no L never waits for a LEASE, so enforcing one would refuse its
    requests.  (rsocket-java's RSocketServer turns its lease trackers on for every
    connection once the server has leases configured, whatever the flag says.)
    """
    server = make_server(LEASING, DEFAULT_SETUP)
    assert not server.leasing
    feed(server, RequestResponseFrame(1, b"q"))
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_RESPONSE, b"q", None)]
    assert server.data_to_send() == []
    with pytest.raises(LocalProtocolError, match="leasing is off"):
        server.send_lease(10.0, 5, now=0.0)


def test_su9_client_request_before_the_first_lease_is_refused_unsent() -> None:
    client = leased_client()
    with pytest.raises(MissingLeaseError, match=r"^lease missing") as caught:
        client.request_response(b"q", now=0.0)
    assert caught.value.code == ErrorCode.REJECTED
    assert client.data_to_send() == []
    assert client.stream_count == 0


def test_su9_server_requester_waits_for_the_clients_lease() -> None:
    server = leased_server()
    with pytest.raises(MissingLeaseError, match=r"^lease missing"):
        server.request_response(b"q", now=0.0)
    feed(server, LeaseFrame(1000, 1))
    assert server.events() == [LeaseReceived(1000, 1, None)]
    assert server.request_response(b"q", now=0.0) == 2
    assert frames_out(server) == [RequestResponseFrame(2, b"q")]


def test_su10_lease_confirms_the_setup_with_leasing_on() -> None:
    client = leased_client()
    feed(client, LeaseFrame(1000, 1))
    client.events()
    feed(client, ErrorFrame(0, ErrorCode.REJECTED_SETUP, b"too late"))
    assert client.events() == []
    assert client.state is ConnectionState.ESTABLISHED


# --------------------------------------------------------------------------- LE-1: the LEASE frame


def test_le1_lease_goes_out_on_stream_0_with_ttl_in_milliseconds() -> None:
    server = leased_server()
    assert server.send_lease(2.5, 5, b"md", now=0.0) is True
    assert frames_out(server) == [LeaseFrame(2500, 5, b"md")]


def test_le1_client_side_responder_grants_leases_too() -> None:
    client = leased_client()
    client.send_lease(10.0, 3, now=0.0)
    assert frames_out(client) == [LeaseFrame(10_000, 3)]
    feed(client, LeaseFrame(10_000, 5))
    feed(client, RequestResponseFrame(2, b"from server"))
    assert client.events()[-1] == RequestReceived(2, RequestKind.REQUEST_RESPONSE, b"from server", None)


def test_le1_send_lease_needs_leasing() -> None:
    with pytest.raises(LocalProtocolError, match="leasing is off"):
        make_client().send_lease(10.0, 5, now=0.0)


def test_le1_send_lease_needs_the_setup_sent_first() -> None:
    client = Connection(Role.CLIENT, LEASING)
    with pytest.raises(LocalProtocolError, match="SETUP goes before any LEASE"):
        client.send_lease(10.0, 5, now=0.0)


@pytest.mark.parametrize(
    ("ttl", "requests"),
    [(-0.001, 5), (MAX_U31 / 1000 + 1, 5), (1.0, -1), (1.0, MAX_U31 + 1)],
    ids=["negative-ttl", "ttl-past-31-bits", "negative-requests", "requests-past-31-bits"],
)
def test_le1_lease_values_must_fit_31_bits(ttl: float, requests: int) -> None:
    server = leased_server()
    with pytest.raises(LocalProtocolError):
        server.send_lease(ttl, requests, now=0.0)
    assert server.data_to_send() == []


def test_le1_send_lease_after_close_sends_nothing() -> None:
    server = leased_server()
    server.close()
    server.events()
    assert server.send_lease(10.0, 5, now=0.0) is False
    assert server.data_to_send() == []


# --------------------------------------------------------------------------- LE-2: TTL from arrival


def test_le2_ttl_runs_from_when_the_lease_arrives() -> None:
    client = leased_client()
    feed(client, LeaseFrame(1000, 5), now=10.0)
    assert client.request_response(b"a", now=10.999) == 1
    with pytest.raises(MissingLeaseError, match=r"^lease expired"):
        client.request_response(b"b", now=11.0)


def test_le2_an_expired_lease_leaves_no_allowance() -> None:
    client = leased_client()
    feed(client, LeaseFrame(1000, 5, b"why"), now=10.0)
    tracker = client.requester_lease
    assert tracker is not None
    assert tracker.info(10.5) == LeaseInfo(5, 5, 1.0, 11.0, b"why")
    assert tracker.info(11.0) == LeaseInfo(5, 0, 1.0, 11.0, b"why")


def test_le2_no_lease_info_before_the_first_lease() -> None:
    tracker = leased_client().requester_lease
    assert tracker is not None
    assert tracker.info(0.0) is None


# --------------------------------------------------------------------------- LE-3: replacement


def test_le3_a_new_lease_replaces_the_old_one_entirely() -> None:
    client = leased_client()
    feed(client, LeaseFrame(10_000, 5))
    client.request_response(b"1", now=0.0)
    client.request_response(b"2", now=0.0)
    feed(client, LeaseFrame(10_000, 1))  # not 3 left + 1: exactly 1
    client.request_response(b"3", now=0.0)
    with pytest.raises(MissingLeaseError, match=r"^lease exhausted"):
        client.request_response(b"4", now=0.0)


def test_le3_a_new_lease_restarts_the_ttl() -> None:
    client = leased_client()
    feed(client, LeaseFrame(1000, 5), now=0.0)
    feed(client, LeaseFrame(1000, 5), now=0.9)
    assert client.request_response(b"q", now=1.5) == 1


def test_le3_d5_lease_with_zero_requests_stops_new_requests() -> None:
    client = leased_client()
    feed(client, LeaseFrame(10_000, 5))
    feed(client, LeaseFrame(10_000, 0))
    assert client.events() == [LeaseReceived(10_000, 5, None), LeaseReceived(10_000, 0, None)]
    with pytest.raises(MissingLeaseError, match=r"^lease exhausted"):
        client.request_response(b"q", now=0.0)


def test_le3_d5_lease_with_zero_ttl_stops_new_requests() -> None:
    client = leased_client()
    feed(client, LeaseFrame(10_000, 5))
    feed(client, LeaseFrame(0, 5))
    with pytest.raises(MissingLeaseError, match=r"^lease expired"):
        client.request_response(b"q", now=0.0)


def test_le3_granting_zero_makes_the_responder_refuse() -> None:
    server = granted_server(10.0, 5)
    server.send_lease(10.0, 0, now=0.0)
    assert frames_out(server) == [LeaseFrame(10_000, 0)]
    feed(server, RequestResponseFrame(1, b"q"))
    assert server.events() == []
    assert no_text(frames_out(server)) == [rejection(1)]


# --------------------------------------------------------------------------- LE-4: requester side


def test_le4_requester_sends_no_more_requests_than_the_lease_allows() -> None:
    client = leased_client()
    feed(client, LeaseFrame(10_000, 2))
    client.request_response(b"1", now=0.0)
    client.request_response(b"2", now=0.0)
    with pytest.raises(MissingLeaseError, match=r"^lease exhausted: the peer granted 2 requests"):
        client.request_response(b"3", now=0.0)
    assert frames_out(client) == [RequestResponseFrame(1, b"1"), RequestResponseFrame(3, b"2")]


def test_le4_each_request_type_spends_one_unit() -> None:
    client = leased_client()
    feed(client, LeaseFrame(10_000, 4))
    client.request_response(b"rr", now=0.0)
    client.request_fire_and_forget(b"fnf", now=0.0)
    client.request_stream(b"stream", initial_n=5, now=0.0)
    client.request_channel(b"channel", initial_n=5, now=0.0)
    assert len(client.data_to_send()) == 4
    for request in (
        lambda: client.request_response(b"rr", now=0.0),
        lambda: client.request_fire_and_forget(b"fnf", now=0.0),
        lambda: client.request_stream(b"stream", initial_n=5, now=0.0),
        lambda: client.request_channel(b"channel", initial_n=5, now=0.0),
    ):
        with pytest.raises(MissingLeaseError):
            request()
    assert client.data_to_send() == []


def test_le4_a_refused_request_spends_nothing_and_takes_no_stream_id() -> None:
    client = leased_client()
    with pytest.raises(MissingLeaseError):
        client.request_response(b"early", now=0.0)
    feed(client, LeaseFrame(10_000, 1))
    assert client.request_response(b"q", now=0.0) == 1


def test_le4_requests_need_the_time_when_leasing_is_on() -> None:
    client = leased_client()
    feed(client, LeaseFrame(10_000, 1))
    with pytest.raises(LocalProtocolError, match="pass now="):
        client.request_response(b"q")
    assert client.data_to_send() == []


def test_le4_requests_need_no_time_without_leasing() -> None:
    client = make_client()
    assert client.request_response(b"q") == 1


def test_d18_metadata_push_is_not_leased() -> None:
    client = leased_client()
    client.metadata_push(b"md")
    assert frames_out(client) == [MetadataPushFrame(b"md")]
    server = leased_server()
    feed(server, MetadataPushFrame(b"md"))
    assert server.events() == [MetadataPushReceived(b"md")]
    assert server.data_to_send() == []


def test_d18_frames_on_open_streams_spend_no_lease() -> None:
    client = leased_client()
    feed(client, LeaseFrame(10_000, 1))
    stream_id = client.request_channel(b"c", initial_n=1, now=0.0)
    client.data_to_send()
    feed(client, RequestNFrame(stream_id, 2), PayloadFrame(stream_id, b"x", None, False, False, True))
    assert client.send_request_n(stream_id, 5)
    assert client.send_payload(stream_id, b"y")
    tracker = client.requester_lease
    assert tracker is not None
    assert tracker.remaining == 0  # spent by the request alone


def test_d18_responder_takes_stream_frames_without_lease() -> None:
    server = granted_server(10.0, 1)
    feed(server, RequestChannelFrame(1, 2, b"c"))
    server.events()
    assert server.send_request_n(1, 1)
    server.data_to_send()
    feed(server, PayloadFrame(1, b"x", None, False, False, True), RequestNFrame(1, 3))
    assert server.events() == [PayloadReceived(1, b"x", None, True, False), RequestNReceived(1, 3)]
    assert server.data_to_send() == []
    feed(server, CancelFrame(1))
    assert server.data_to_send() == []


def test_fr7_fragmented_request_spends_one_unit_when_sent() -> None:
    client = make_client(ConnectionConfig(lease=True, fragment_size=64))
    feed(client, LeaseFrame(10_000, 1))
    client.request_response(bytes(500), now=0.0)
    assert len(client.data_to_send()) > 1
    with pytest.raises(MissingLeaseError, match=r"^lease exhausted"):
        client.request_response(b"q", now=0.0)


def test_fr7_fragmented_request_spends_one_unit_when_served() -> None:
    server = granted_server(10.0, 2)
    feed(server, RequestStreamFrame(1, 5, b"a", None, True))
    feed(server, PayloadFrame(1, b"b", None, True, False, True))
    feed(server, PayloadFrame(1, b"c", None, False, False, True))
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_STREAM, b"abc", None, 5, False)]
    tracker = server.responder_lease
    assert tracker is not None
    assert tracker.remaining == 1


# --------------------------------------------------------------------------- LE-5: responder side


def test_le5_request_beyond_lease_gets_rejected() -> None:
    server = granted_server(10.0, 1)
    feed(server, RequestResponseFrame(1, b"in"), RequestResponseFrame(3, b"over"))
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_RESPONSE, b"in", None)]
    out = frames_out(server)
    assert no_text(out) == [rejection(3)]
    assert error_text(out) == "lease exhausted: we granted 1 requests for 10000 ms, all used (LE-5)"
    assert server.stream(3) is None


def test_le5_request_before_the_first_lease_gets_rejected() -> None:
    server = leased_server()
    feed(server, RequestResponseFrame(1, b"early"))
    assert server.events() == []
    out = frames_out(server)
    assert no_text(out) == [rejection(1)]
    assert error_text(out).startswith("lease missing")


def test_le5_request_after_ttl_expiry_gets_rejected() -> None:
    server = granted_server(1.0, 5, now=0.0)
    feed(server, RequestResponseFrame(1, b"in time"), now=0.999)
    feed(server, RequestResponseFrame(3, b"late"), now=1.0)
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_RESPONSE, b"in time", None)]
    out = frames_out(server)
    assert no_text(out) == [rejection(3)]
    assert error_text(out).startswith("lease expired")


@pytest.mark.parametrize(
    "request_frame",
    [
        RequestResponseFrame(1, b"q"),
        RequestFnfFrame(1, b"q"),
        RequestStreamFrame(1, 5, b"q"),
        RequestChannelFrame(1, 5, b"q"),
    ],
    ids=["response", "fire-and-forget", "stream", "channel"],
)
def test_le5_every_request_type_is_rejected_without_lease(request_frame: Frame) -> None:
    """A fire-and-forget too: LE-5 asks for the ERROR; its requester drops it (ID-5)."""
    server = leased_server()
    feed(server, request_frame)
    assert server.events() == []
    assert no_text(frames_out(server)) == [rejection(1)]
    assert server.stream_count == 0


def test_le5_fragmented_request_is_rejected_at_its_first_fragment_and_the_rest_dropped() -> None:
    server = leased_server()
    feed(server, RequestResponseFrame(1, b"a", None, True))
    assert no_text(frames_out(server)) == [rejection(1)]
    feed(server, PayloadFrame(1, b"b", None, True, False, True))
    feed(server, PayloadFrame(1, b"c", None, False, False, True))
    assert server.events() == []
    assert server.data_to_send() == []


def test_le5_a_rejected_request_leaves_the_lease_as_it_was() -> None:
    server = granted_server(1.0, 5, now=0.0)
    feed(server, RequestResponseFrame(1, b"late"), now=2.0)
    server.data_to_send()
    server.send_lease(1.0, 1, now=2.0)
    feed(server, RequestResponseFrame(3, b"q"), now=2.5)
    assert server.events() == [RequestReceived(3, RequestKind.REQUEST_RESPONSE, b"q", None)]


# --------------------------------------------------------------------------- LE-6 and U-1


def test_le6_lease_is_ignored_when_leasing_is_off() -> None:
    client = make_client()
    feed(client, LeaseFrame(1000, 0))
    assert client.events() == []
    assert client.requester_lease is None
    assert client.request_response(b"q") == 1


def test_le6_the_application_decides_when_to_grant() -> None:
    """No LEASE goes out on its own: the connection only enforces."""
    server = leased_server()
    server.handle_timer(10.0)
    assert frames_out(server) == []


# --------------------------------------------------------------------------- both directions


def test_le1_both_sides_grant_and_honour_in_one_connection() -> None:
    pair = Pair(LEASING, LEASING)
    pair.pump()
    pair.take_client_events()
    pair.take_server_events()
    pair.server.send_lease(10.0, 2, now=0.0)
    pair.client.send_lease(10.0, 1, now=0.0)
    pair.pump()
    assert pair.take_client_events() == [LeaseReceived(10_000, 2, None)]
    assert pair.take_server_events() == [LeaseReceived(10_000, 1, None)]

    pair.client.request_response(b"c1", now=0.0)
    pair.client.request_fire_and_forget(b"c2", now=0.0)
    with pytest.raises(MissingLeaseError):
        pair.client.request_response(b"c3", now=0.0)
    pair.server.request_response(b"s1", now=0.0)
    with pytest.raises(MissingLeaseError):
        pair.server.request_stream(b"s2", initial_n=1, now=0.0)
    pair.pump()
    assert [type(event) for event in pair.take_server_events()] == [RequestReceived, RequestReceived]
    assert pair.take_client_events() == [RequestReceived(2, RequestKind.REQUEST_RESPONSE, b"s1", None)]
    assert not any(isinstance(frame, ErrorFrame) for frame in pair.c2s + pair.s2c)


# --------------------------------------------------------------------------- LE-7: resumption


def test_le7_the_peers_lease_does_not_survive_a_resume() -> None:
    client = make_client(dataclasses.replace(LEASING, resumable=True, resume_token=b"t"))
    feed(client, LeaseFrame(60_000, 5), now=1.0)
    assert client.request_response(b"a", now=2.0) == 1
    client.link_resumed(3.0)
    with pytest.raises(MissingLeaseError, match=r"^lease missing"):
        client.request_response(b"b", now=3.0)
    feed(client, LeaseFrame(60_000, 1), now=4.0)
    assert client.request_response(b"c", now=4.0) == 3


def test_le7_our_lease_holds_for_requests_sent_again_until_the_fresh_one_replaces_it() -> None:
    server = granted_server(60.0, 2)
    server.link_resumed(1.0)
    feed(server, RequestResponseFrame(1, b"sent before the cut, again after it"), now=1.0)
    assert [type(event) for event in server.events()] == [RequestReceived]
    assert frames_out(server) == []
