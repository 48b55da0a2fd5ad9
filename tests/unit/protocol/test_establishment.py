"""Connection establishment: SETUP, its checks and its answers (checklist §3.3, SU-1..SU-12)."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from aiorsocket.errors import ErrorCode, LocalProtocolError
from aiorsocket.frames import (
    CancelFrame,
    ErrorFrame,
    ExtFrame,
    Frame,
    KeepaliveFrame,
    LeaseFrame,
    MetadataPushFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    ResumeFrame,
    ResumeOkFrame,
    SetupFrame,
    decode_frame,
    encode_frame,
)
from aiorsocket.frames.types import FrameType
from aiorsocket.protocol import (
    Connection,
    ConnectionClosed,
    ConnectionConfig,
    ConnectionState,
    PayloadReceived,
    RequestKind,
    RequestReceived,
    Role,
    SetupReceived,
)
from support.protocol_helpers import (
    DEFAULT_SETUP,
    Pair,
    confirm_client,
    feed,
    frames_out,
    make_client,
    make_server,
    no_text,
    raw_frame,
)

JSON = "application/json"
SETUP_CODES = [
    ErrorCode.INVALID_SETUP,
    ErrorCode.UNSUPPORTED_SETUP,
    ErrorCode.REJECTED_SETUP,
    ErrorCode.REJECTED_RESUME,
]


def fresh_server() -> Connection:
    server = Connection(Role.SERVER)
    server.start(0.0)
    return server


def assert_refused(server: Connection, code: ErrorCode) -> None:
    """The server answered ERROR[code] on stream 0, closed, and reported it once."""
    assert no_text(frames_out(server)) == [ErrorFrame(0, code)]
    assert no_text(server.events()) == [ConnectionClosed(code, "", False)]
    assert server.state is ConnectionState.CLOSED
    assert server.is_closed
    assert server.stream_count == 0


def setup_bytes(**fields: object) -> bytes:
    frame = SetupFrame(20_000, 90_000, JSON, JSON)
    for name, value in fields.items():
        setattr(frame, name, value)
    return encode_frame(frame)


# --------------------------------------------------------------------------- SU-1


def test_su1_client_sends_setup_first_with_fields_from_config() -> None:
    config = ConnectionConfig(
        keepalive_interval=0.5,
        max_lifetime=1.5,
        metadata_mime="message/x.rsocket.composite-metadata.v0",
        data_mime=JSON,
        setup_data=b"hello",
        setup_metadata=b"meta",
    )
    client = Connection(Role.CLIENT, config)
    assert client.data_to_send() == []
    client.start(10.0)
    sent = client.data_to_send()
    assert len(sent) == 1
    # Stream 0, type SETUP with M, version 1.0, 500 ms, 1500 ms.
    assert sent[0][:18] == bytes.fromhex("00000000 0500 0001 0000 000001F4 000005DC")
    assert decode_frame(sent[0]) == SetupFrame(
        500, 1500, "message/x.rsocket.composite-metadata.v0", JSON, b"hello", b"meta", None, False, 1, 0
    )
    assert client.events() == []


def test_su1_setup_bytes_match_the_checklist_example() -> None:
    client = Connection(Role.CLIENT, ConnectionConfig(30.0, 90.0, JSON, JSON))
    client.start(0.0)
    mime = JSON.encode().hex()
    expected = f"00000000 0400 0001 0000 00007530 00015F90 10 {mime} 10 {mime}"
    assert client.data_to_send() == [bytes.fromhex(expected)]


def test_su1_setup_goes_out_before_any_request() -> None:
    client = Connection(Role.CLIENT)
    client.start(0.0)
    client.request_response(b"x")
    assert [type(frame) for frame in frames_out(client)] == [SetupFrame, RequestResponseFrame]


def test_su1_client_request_before_start_raises() -> None:
    client = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError):
        client.request_response(b"too early")
    assert client.data_to_send() == []


def test_su1_start_twice_raises() -> None:
    client = make_client()
    with pytest.raises(LocalProtocolError):
        client.start(1.0)


# --------------------------------------------------------------------------- SU-2


@pytest.mark.parametrize(
    "first",
    [
        RequestResponseFrame(1, b"x"),
        RequestFnfFrame(1, b"x"),
        RequestStreamFrame(1, 5),
        RequestChannelFrame(1, 5),
        RequestNFrame(1, 5),
        CancelFrame(1),
        PayloadFrame(1, b"x", None, False, True, True),
        ErrorFrame(0, ErrorCode.CONNECTION_ERROR, b"x"),
        ErrorFrame(1, ErrorCode.APPLICATION_ERROR, b"x"),
        KeepaliveFrame(0, b"", True),
        LeaseFrame(1000, 10),
        MetadataPushFrame(b"m"),
        ResumeOkFrame(0),
        ExtFrame(0, 7),
    ],
    ids=lambda frame: type(frame).__name__,
)
def test_su2_first_frame_not_setup_gets_invalid_setup(first: Frame) -> None:
    server = fresh_server()
    feed(server, first)
    assert_refused(server, ErrorCode.INVALID_SETUP)


def test_su2_setup_on_nonzero_stream_gets_invalid_setup() -> None:
    buf = bytearray(setup_bytes())
    buf[0:4] = struct.pack(">I", 1)
    server = fresh_server()
    server.receive_frame(bytes(buf), 0.0)
    assert_refused(server, ErrorCode.INVALID_SETUP)


def test_su2_resume_on_nonzero_stream_gets_invalid_setup() -> None:
    buf = bytearray(encode_frame(ResumeFrame(b"token", 0, 0)))
    buf[0:4] = struct.pack(">I", 3)
    server = fresh_server()
    server.receive_frame(bytes(buf), 0.0)
    assert_refused(server, ErrorCode.INVALID_SETUP)


@pytest.mark.parametrize(
    "buf",
    [
        pytest.param(b"\x00\x00", id="shorter-than-header"),
        pytest.param(setup_bytes()[:15], id="truncated-setup"),
        pytest.param(setup_bytes()[:21], id="setup-mime-overrun"),
        pytest.param(setup_bytes(metadata=b"abc")[:-2], id="setup-metadata-overrun"),
        pytest.param(raw_frame(0x20, 0, 0, b"junk"), id="unknown-type"),
        pytest.param(raw_frame(FrameType.REQUEST_STREAM, 0, 1, b"\x00\x00"), id="truncated-request"),
    ],
)
def test_su2_malformed_first_frame_gets_invalid_setup(buf: bytes) -> None:
    server = fresh_server()
    server.receive_frame(buf, 0.0)
    assert_refused(server, ErrorCode.INVALID_SETUP)


@pytest.mark.parametrize(
    "buf",
    [
        pytest.param(raw_frame(FrameType.CANCEL, 0, 0), id="cancel-on-stream-0"),
        pytest.param(raw_frame(FrameType.PAYLOAD, 0x060, 0, b"x"), id="payload-on-stream-0"),
        pytest.param(raw_frame(FrameType.REQUEST_N, 0, 0, b"\x00\x00\x00\x01"), id="request-n-on-stream-0"),
        pytest.param(raw_frame(FrameType.METADATA_PUSH, 0x100, 3, b"m"), id="metadata-push-on-stream-3"),
    ],
)
def test_su2_first_frame_dropped_by_id5_rules_still_gets_invalid_setup(buf: bytes) -> None:
    server = fresh_server()
    server.receive_frame(buf, 0.0)
    assert_refused(server, ErrorCode.INVALID_SETUP)


# --------------------------------------------------------------------------- SU-3, SU-4


@pytest.mark.parametrize(
    ("keepalive", "lifetime"), [(0, 90_000), (20_000, 0), (0, 0)], ids=["keepalive-0", "lifetime-0", "both-0"]
)
def test_su3_zero_keepalive_or_lifetime_gets_invalid_setup(keepalive: int, lifetime: int) -> None:
    # The encoder refuses 0, so patch the fields in the bytes.
    buf = bytearray(setup_bytes())
    buf[10:18] = struct.pack(">II", keepalive, lifetime)
    server = fresh_server()
    server.receive_frame(bytes(buf), 0.0)
    assert_refused(server, ErrorCode.INVALID_SETUP)


@pytest.mark.parametrize(("major", "minor"), [(2, 0), (0, 2), (0, 0)])
def test_su4_unsupported_version_gets_invalid_setup(major: int, minor: int) -> None:
    server = fresh_server()
    feed(server, SetupFrame(20_000, 90_000, JSON, JSON, major=major, minor=minor))
    assert_refused(server, ErrorCode.INVALID_SETUP)


def test_su4_version_1_0_is_offered_to_the_driver() -> None:
    server = fresh_server()
    setup = SetupFrame(20_000, 90_000, JSON, "text/plain", b"data", b"meta")
    feed(server, setup)
    assert server.events() == [SetupReceived(setup)]
    assert server.data_to_send() == []
    assert server.state is ConnectionState.SETUP_PENDING
    assert server.setup == setup


# --------------------------------------------------------------------------- SU-6, SU-9, RE-5


def test_su6_resume_flag_gets_rejected_setup() -> None:
    server = fresh_server()
    feed(server, SetupFrame(20_000, 90_000, JSON, JSON, resume_token=b"tok"))
    assert_refused(server, ErrorCode.REJECTED_SETUP)


def test_su6_resume_flag_with_empty_token_gets_rejected_setup() -> None:
    server = fresh_server()
    feed(server, SetupFrame(20_000, 90_000, JSON, JSON, resume_token=b""))
    assert_refused(server, ErrorCode.REJECTED_SETUP)


def test_su9_lease_flag_gets_unsupported_setup() -> None:
    server = fresh_server()
    feed(server, SetupFrame(20_000, 90_000, JSON, JSON, lease=True))
    assert_refused(server, ErrorCode.UNSUPPORTED_SETUP)


def test_re5_resume_as_first_frame_gets_rejected_resume() -> None:
    server = fresh_server()
    feed(server, ResumeFrame(b"token", 0, 0))
    assert_refused(server, ErrorCode.REJECTED_RESUME)


def test_re10_resume_after_setup_gets_connection_error(server: Connection) -> None:
    feed(server, ResumeFrame(b"token", 0, 0))
    assert_refused(server, ErrorCode.CONNECTION_ERROR)


def test_re4_resume_ok_without_resume_gets_connection_error(client: Connection) -> None:
    feed(client, ResumeOkFrame(0))
    assert_refused(client, ErrorCode.CONNECTION_ERROR)


# --------------------------------------------------------------------------- SU-7


@pytest.mark.parametrize(
    "code", [ErrorCode.INVALID_SETUP, ErrorCode.UNSUPPORTED_SETUP, ErrorCode.REJECTED_SETUP]
)
def test_su7_reject_setup_sends_the_code_and_message_then_closes(code: ErrorCode) -> None:
    server = fresh_server()
    feed(server, DEFAULT_SETUP)
    assert server.events() == [SetupReceived(DEFAULT_SETUP)]
    server.reject_setup(code, "go away: bad credentials")
    assert frames_out(server) == [ErrorFrame(0, code, b"go away: bad credentials")]
    assert server.events() == [ConnectionClosed(code, "go away: bad credentials", False)]
    assert server.is_closed
    # §4: after closing, anything still arriving is ignored.
    feed(server, RequestResponseFrame(1, b"x"))
    assert server.events() == []
    assert server.data_to_send() == []


@pytest.mark.parametrize(
    "code", [ErrorCode.REJECTED_RESUME, ErrorCode.CONNECTION_ERROR, ErrorCode.APPLICATION_ERROR]
)
def test_su7_reject_setup_with_a_non_setup_code_raises(code: ErrorCode) -> None:
    server = fresh_server()
    feed(server, DEFAULT_SETUP)
    with pytest.raises(LocalProtocolError):
        server.reject_setup(code, "nope")
    assert server.state is ConnectionState.SETUP_PENDING
    assert server.data_to_send() == []


def test_su7_accept_or_reject_without_a_pending_setup_raises() -> None:
    server = fresh_server()
    with pytest.raises(LocalProtocolError):
        server.accept_setup()
    with pytest.raises(LocalProtocolError):
        server.reject_setup(ErrorCode.REJECTED_SETUP, "x")
    established = make_server()
    with pytest.raises(LocalProtocolError):
        established.accept_setup()


# --------------------------------------------------------------------------- SU-8, SU-11


def test_su8_client_may_request_before_any_answer(client: Connection) -> None:
    stream_id = client.request_response(b"ping", b"md")
    assert frames_out(client) == [RequestResponseFrame(stream_id, b"ping", b"md")]
    assert stream_id == 1


def test_su8_request_made_with_the_setup_reaches_the_server() -> None:
    pair = Pair()
    stream_id = pair.client.request_stream(b"go", initial_n=3)
    pair.pump()
    assert [type(frame) for frame in pair.c2s] == [SetupFrame, RequestStreamFrame]
    assert pair.take_server_events() == [
        SetupReceived(pair.server.setup),  # type: ignore[arg-type]
        RequestReceived(stream_id, RequestKind.REQUEST_STREAM, b"go", None, 3, False),
    ]


def test_su11_feeding_frames_while_setup_pending_raises() -> None:
    server = fresh_server()
    feed(server, DEFAULT_SETUP)
    with pytest.raises(LocalProtocolError):
        feed(server, RequestResponseFrame(1, b"x"))
    server.accept_setup()
    feed(server, RequestResponseFrame(1, b"x"))
    assert server.events() == [
        SetupReceived(DEFAULT_SETUP),
        RequestReceived(1, RequestKind.REQUEST_RESPONSE, b"x", None, 0, False),
    ]


@pytest.mark.parametrize("state", ["awaiting", "pending"])
def test_su11_server_cannot_request_before_accepting(state: str) -> None:
    server = fresh_server()
    if state == "pending":
        feed(server, DEFAULT_SETUP)
    with pytest.raises(LocalProtocolError):
        server.request_response(b"x")
    with pytest.raises(LocalProtocolError):
        server.request_stream(b"x", initial_n=1)
    with pytest.raises(LocalProtocolError):
        server.metadata_push(b"m")
    assert server.data_to_send() == []


def test_su8_server_may_request_once_it_accepted(server: Connection) -> None:
    assert server.request_response(b"x") == 2
    assert frames_out(server) == [RequestResponseFrame(2, b"x")]


# --------------------------------------------------------------------------- SU-10, SU-12


@pytest.mark.parametrize("code", SETUP_CODES)
def test_su10_client_treats_stream0_setup_error_before_confirmation_as_rejection(code: ErrorCode) -> None:
    client = make_client()
    stream_id = client.request_stream(b"x", initial_n=1)
    client.data_to_send()
    feed(client, ErrorFrame(0, code, b"no thanks"))
    assert client.events() == [ConnectionClosed(code, "no thanks", True)]
    assert client.data_to_send() == []
    assert client.is_closed
    assert client.stream(stream_id) is None


def test_su10_keepalive_does_not_confirm_the_setup(client: Connection) -> None:
    feed(client, KeepaliveFrame(0, b"", False))
    feed(client, ErrorFrame(0, ErrorCode.REJECTED_SETUP, b"late no"))
    assert client.events() == [ConnectionClosed(ErrorCode.REJECTED_SETUP, "late no", True)]


def _confirm_with_lease(client: Connection) -> None:
    feed(client, LeaseFrame(1000, 5))


def _confirm_with_response(client: Connection) -> None:
    stream_id = client.request_response(b"q")
    feed(client, PayloadFrame(stream_id, b"a", None, False, True, True))


def _confirm_with_server_request(client: Connection) -> None:
    confirm_client(client)


def _confirm_with_stream_error(client: Connection) -> None:
    stream_id = client.request_response(b"q")
    feed(client, ErrorFrame(stream_id, ErrorCode.APPLICATION_ERROR, b"boom"))


@pytest.mark.parametrize(
    "confirm",
    [_confirm_with_lease, _confirm_with_response, _confirm_with_server_request, _confirm_with_stream_error],
    ids=["lease", "response", "server-request", "stream-error"],
)
@pytest.mark.parametrize("code", SETUP_CODES)
def test_su12_client_ignores_stream0_setup_error_after_confirmation(
    confirm: Callable[[Connection], None], code: ErrorCode
) -> None:
    client = make_client()
    confirm(client)
    client.events()
    client.data_to_send()
    feed(client, ErrorFrame(0, code, b"too late"))
    assert client.events() == []
    assert client.data_to_send() == []
    assert client.state is ConnectionState.ESTABLISHED


def test_su10_response_confirms_and_is_delivered(client: Connection) -> None:
    stream_id = client.request_response(b"q")
    client.data_to_send()
    feed(client, PayloadFrame(stream_id, b"a", None, False, True, True))
    assert client.events() == [PayloadReceived(stream_id, b"a", None, True, True)]


def test_su12_client_ignores_setup(client: Connection) -> None:
    feed(client, SetupFrame(1000, 2000, JSON, JSON))
    assert client.events() == []
    assert client.data_to_send() == []
    assert client.state is ConnectionState.ESTABLISHED


def test_su12_server_ignores_a_second_setup(server: Connection) -> None:
    feed(server, SetupFrame(1, 2, "x", "y", b"again"))
    assert server.events() == []
    assert server.data_to_send() == []
    assert server.state is ConnectionState.ESTABLISHED
    assert server.setup == DEFAULT_SETUP


@pytest.mark.parametrize("code", SETUP_CODES)
def test_su12_server_ignores_setup_error_codes(server: Connection, code: ErrorCode) -> None:
    feed(server, ErrorFrame(0, code, b"?"))
    assert server.events() == []
    assert server.data_to_send() == []
    assert server.state is ConnectionState.ESTABLISHED


def test_accept_setup_takes_keepalive_and_lifetime_from_the_setup() -> None:
    server = make_server(setup=SetupFrame(1_000, 5_000, JSON, JSON), now=100.0)
    # No keepalives from a server; it declares the client dead after the SETUP's max lifetime.
    assert server.next_timer() == pytest.approx(105.0)
