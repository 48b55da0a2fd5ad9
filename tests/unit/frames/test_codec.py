"""Exact-bytes and validation tests for the frame codec (checklist §1, §3.1, §3.2, §4, §6)."""

from __future__ import annotations

import pytest

from aiorsocket.errors import (
    ErrorCode,
    FaultLevel,
    FrameError,
    LocalProtocolError,
    UnknownFrameTypeError,
)
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
    encode_frame_with_length,
)
from aiorsocket.frames.codec import length_prefix

JSON = "application/json"


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- §4 byte examples, exactly -------------------------------------------------------


def test_s4_request_n_example_bytes() -> None:
    frame = RequestNFrame(1, 5)
    assert encode_frame_with_length(frame) == h("00000A 00000001 2000 00000005")
    assert decode_frame(h("00000001 2000 00000005")) == frame


def test_s4_cancel_example_bytes() -> None:
    assert encode_frame_with_length(CancelFrame(1)) == h("000006 00000001 2400")
    assert decode_frame(h("00000001 2400")) == CancelFrame(1)


def test_s4_keepalive_respond_example_bytes() -> None:
    frame = KeepaliveFrame(0, b"", respond=True)
    assert encode_frame_with_length(frame) == h("00000E 00000000 0C80 0000000000000000")
    assert decode_frame(h("00000000 0C80 0000000000000000")) == frame


def test_s4_setup_example_bytes() -> None:
    frame = SetupFrame(30000, 90000, JSON, JSON)
    mime = b"\x10" + JSON.encode()
    expected = h("000034 00000000 0400 0001 0000 00007530 00015F90") + mime + mime
    assert encode_frame_with_length(frame) == expected
    assert decode_frame(expected[3:]) == frame


def test_s1_header_word_examples() -> None:
    # §1.1: REQUEST_N → W=0x2000; PAYLOAD with N|C → 0x2860.
    assert encode_frame(RequestNFrame(3, 1))[4:6] == h("2000")
    assert encode_frame(PayloadFrame(3, b"x", next=True, complete=True))[4:6] == h("2860")


# --- every frame type: layout and flags ----------------------------------------------

ALL_FRAMES: list[tuple[str, Frame, str]] = [
    (
        "setup_resume_lease_metadata",
        SetupFrame(500, 2000, "m", "d", data=b"D", metadata=b"MD", resume_token=b"tok", lease=True),
        # flags M|R|L = 0x100|0x080|0x040 → word 0x05C0
        "00000000 05C0 0001 0000 000001F4 000007D0 0003 746F6B 01 6D 01 64 000002 4D44 44",
    ),
    ("lease", LeaseFrame(1000, 5), "00000000 0800 000003E8 00000005"),
    ("lease_metadata", LeaseFrame(1000, 5, b"md"), "00000000 0900 000003E8 00000005 6D64"),
    ("keepalive_data", KeepaliveFrame(7, b"ab"), "00000000 0C00 0000000000000007 6162"),
    ("request_response", RequestResponseFrame(1, b"hi"), "00000001 1000 6869"),
    (
        "request_response_md_follows",
        RequestResponseFrame(1, b"hi", b"m", follows=True),
        "00000001 1180 000001 6D 6869",
    ),
    ("request_fnf", RequestFnfFrame(3, b"x", b""), "00000003 1500 000000 78"),
    ("request_stream", RequestStreamFrame(5, 10, b"x"), "00000005 1800 0000000A 78"),
    (
        "request_channel_complete",
        RequestChannelFrame(7, 1, b"x", None, complete=True),
        "00000007 1C40 00000001 78",
    ),
    ("request_n", RequestNFrame(9, 0x7FFFFFFF), "00000009 2000 7FFFFFFF"),
    ("cancel", CancelFrame(11), "0000000B 2400"),
    ("payload_next", PayloadFrame(1, b"a", next=True), "00000001 2820 61"),
    ("payload_complete", PayloadFrame(1, complete=True), "00000001 2840"),
    (
        "payload_follows_md",
        PayloadFrame(1, b"a", b"m", follows=True, next=True),
        "00000001 29A0 000001 6D 61",
    ),
    (
        "error_application",
        ErrorFrame(1, ErrorCode.APPLICATION_ERROR, b"boom"),
        "00000001 2C00 00000201 626F6F6D",
    ),
    ("error_connection", ErrorFrame(0, ErrorCode.CONNECTION_CLOSE, b""), "00000000 2C00 00000102"),
    ("metadata_push", MetadataPushFrame(b"md"), "00000000 3100 6D64"),
    (
        "resume",
        ResumeFrame(b"tk", 5, 6),
        "00000000 3400 0001 0000 0002 746B 0000000000000005 0000000000000006",
    ),
    ("resume_ok", ResumeOkFrame(42), "00000000 3800 000000000000002A"),
    ("ext", ExtFrame(0, 7, b"d", None, ignore=True), "00000000 FE00 00000007 64"),
    ("ext_metadata", ExtFrame(3, 1, b"d", b"m"), "00000003 FD00 00000001 000001 6D 64"),
]


@pytest.mark.parametrize(
    ("frame", "wire"), [(f, w) for _, f, w in ALL_FRAMES], ids=[n for n, _, _ in ALL_FRAMES]
)
def test_s1_3_frame_layout_encodes_and_decodes_exactly(frame: Frame, wire: str) -> None:
    assert encode_frame(frame) == h(wire)
    assert decode_frame(h(wire)) == frame
    assert decode_frame(memoryview(h(wire))) == frame
    assert decode_frame(bytearray(h(wire))) == frame


def test_d9_empty_metadata_is_kept_apart_from_absent() -> None:
    empty = PayloadFrame(1, b"d", b"", next=True)
    absent = PayloadFrame(1, b"d", None, next=True)
    assert encode_frame(empty) == h("00000001 2920 000000 64")
    assert encode_frame(absent) == h("00000001 2820 64")
    assert decode_frame(encode_frame(empty)).metadata == b""  # type: ignore[union-attr]
    assert decode_frame(encode_frame(absent)).metadata is None  # type: ignore[union-attr]


def test_su6_setup_r_flag_with_empty_token_keeps_the_length_field() -> None:
    frame = SetupFrame(1, 1, "a", "b", resume_token=b"")
    wire = encode_frame(frame)
    assert wire[4:6] == h("0480")
    assert wire[18:20] == h("0000")
    assert decode_frame(wire) == frame


def test_d3_error_code_is_unsigned_32_bit() -> None:
    frame = ErrorFrame(1, 0xFFFFFFFE, b"x")
    assert encode_frame(frame) == h("00000001 2C00 FFFFFFFE 78")
    assert decode_frame(encode_frame(frame)) == frame
    assert decode_frame(h("00000001 2C00 80000301")).error_code == 0x80000301  # type: ignore[union-attr]


def test_error_frame_message_decodes_utf8_leniently() -> None:
    assert ErrorFrame(1, 0x201, "héllo".encode()).message == "héllo"
    assert ErrorFrame(1, 0x201, b"\xff").message == "\ufffd"


# --- FL-3: reserved bits are masked off on receipt -----------------------------------


def test_fl3_reserved_bit_of_stream_id_is_masked_on_receipt() -> None:
    assert decode_frame(h("80000001 2400")) == CancelFrame(1)


def test_fl3_reserved_bit_of_request_n_is_masked_on_receipt() -> None:
    assert decode_frame(h("00000001 2000 80000005")) == RequestNFrame(1, 5)


def test_fl3_reserved_bit_of_positions_is_masked_on_receipt() -> None:
    frame = decode_frame(h("00000000 0C00 8000000000000009"))
    assert frame == KeepaliveFrame(9)


def test_fl3_reserved_bit_is_never_sent() -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(RequestNFrame(1, 0x80000000))
    with pytest.raises(LocalProtocolError):
        encode_frame(CancelFrame(0x80000000))
    with pytest.raises(LocalProtocolError):
        encode_frame(KeepaliveFrame(1 << 63))


# --- FL-5: undefined flag bits are ignored -------------------------------------------


def test_fl5_undefined_flags_are_ignored() -> None:
    # KEEPALIVE with M and C set (neither defined for it) decodes as a plain KEEPALIVE.
    assert decode_frame(h("00000000 0D40 0000000000000001")) == KeepaliveFrame(1)
    # REQUEST_N with every flag but I set.
    assert decode_frame(h("00000001 21FF 00000002")) == RequestNFrame(1, 2)


def test_u1_fixed_size_frames_ignore_trailing_bytes() -> None:
    assert decode_frame(h("00000001 2400 DEADBEEF")) == CancelFrame(1)
    assert decode_frame(h("00000001 2000 00000002 FF")) == RequestNFrame(1, 2)


def test_metadata_push_without_m_flag_is_accepted_rsocket_js_0_0_27_quirk() -> None:
    assert decode_frame(h("00000000 3000 6D64")) == MetadataPushFrame(b"md")


# --- FL-2 and §1.2: malformed frames --------------------------------------------------


def assert_fault(
    wire: str,
    *,
    rule: str,
    code: ErrorCode,
    level: FaultLevel = FaultLevel.CONNECTION,
    ignorable: bool = False,
    exc: type[FrameError] = FrameError,
) -> FrameError:
    with pytest.raises(exc) as info:
        decode_frame(h(wire))
    err = info.value
    assert err.rule == rule
    assert err.error_code == code
    assert err.level is level
    assert err.ignorable is ignorable
    return err


def test_fl2_shorter_than_header_is_connection_error() -> None:
    err = assert_fault("00000001 24", rule="FL-2", code=ErrorCode.CONNECTION_ERROR)
    assert err.frame_type is None


@pytest.mark.parametrize(
    "wire",
    [
        "00000000 0800 000003E8",  # LEASE missing request count
        "00000000 0C80 00000000",  # KEEPALIVE missing half the position
        "00000001 1800 0000",  # REQUEST_STREAM missing request-n
        "00000001 1C00",  # REQUEST_CHANNEL missing request-n
        "00000001 2000",  # REQUEST_N without n
        "00000001 2C00 0000",  # ERROR with half a code
        "00000000 3400 0001 0000 0002 746B 0000000000000005",  # RESUME missing a position
        "00000000 3800 00000000",  # RESUME_OK short
        "00000000 FC00 0000",  # EXT short
        "00000001 1100 0000",  # REQUEST_RESPONSE with M but a 2-byte length
    ],
)
def test_fl2_shorter_than_fixed_fields_is_connection_error(wire: str) -> None:
    assert_fault(wire, rule="FL-2", code=ErrorCode.CONNECTION_ERROR)


def test_fl2_short_frame_with_i_flag_is_ignorable() -> None:
    assert_fault("00000001 1A00 0000", rule="FL-2", code=ErrorCode.CONNECTION_ERROR, ignorable=True)


def test_s1_2_metadata_length_overrun_is_connection_error() -> None:
    err = assert_fault("00000001 2920 000009 6D 61", rule="FL-2", code=ErrorCode.CONNECTION_ERROR)
    assert err.stream_id == 1
    assert "overruns" in err.message


def test_s1_2_metadata_length_overrun_with_i_flag_is_ignorable() -> None:
    assert_fault("00000001 2B20 000009 6D", rule="FL-2", code=ErrorCode.CONNECTION_ERROR, ignorable=True)


def test_d15_metadata_may_fill_the_whole_frame_leaving_empty_data() -> None:
    assert decode_frame(h("00000001 2920 000002 6D64")) == PayloadFrame(1, b"", b"md", next=True)


def test_setup_truncated_is_invalid_setup() -> None:
    assert_fault("00000000 0400 0001 0000 00007530", rule="FL-2", code=ErrorCode.INVALID_SETUP)


def test_setup_mime_overrun_is_invalid_setup() -> None:
    assert_fault(
        "00000000 0400 0001 0000 00007530 00015F90 10 6A",
        rule="FL-2",
        code=ErrorCode.INVALID_SETUP,
    )


def test_su5_setup_mime_must_be_ascii() -> None:
    assert_fault(
        "00000000 0400 0001 0000 00007530 00015F90 01 FF 01 61",
        rule="SU-5",
        code=ErrorCode.INVALID_SETUP,
    )


def test_su6_setup_resume_token_overrun_is_invalid_setup() -> None:
    assert_fault(
        "00000000 0480 0001 0000 00007530 00015F90 0009 74",
        rule="SU-6",
        code=ErrorCode.INVALID_SETUP,
    )


@pytest.mark.parametrize(
    "wire",
    [
        "00000000 0400 0001 0000 00000000 00015F90 01 61 01 61",
        "00000000 0400 0001 0000 00007530 00000000 01 61 01 61",
        "00000000 0400 0001 0000 80000000 00015F90 01 61 01 61",  # 0 after masking (FL-3)
    ],
)
def test_su3_zero_keepalive_or_lifetime_is_invalid_setup(wire: str) -> None:
    assert_fault(wire, rule="SU-3", code=ErrorCode.INVALID_SETUP)


def test_su2_setup_on_nonzero_stream_is_invalid_setup() -> None:
    wire = encode_frame(SetupFrame(1, 1, "a", "b"))
    with pytest.raises(FrameError) as info:
        decode_frame(h("00000001") + wire[4:])
    assert info.value.rule == "SU-2"
    assert info.value.error_code == ErrorCode.INVALID_SETUP
    assert info.value.stream_id == 1


def test_su2_resume_on_nonzero_stream_is_invalid_setup() -> None:
    assert_fault(
        "00000003 3400 0001 0000 0000 0000000000000000 0000000000000000",
        rule="SU-2",
        code=ErrorCode.INVALID_SETUP,
    )


@pytest.mark.parametrize(
    ("wire", "rule"),
    [
        ("00000001 0800 000003E8 00000005", "LE-1"),
        ("00000001 0C80 0000000000000000", "KA-1"),
        ("00000001 3800 0000000000000000", "RE-4"),
    ],
)
def test_stream_zero_frames_on_a_stream_are_connection_errors(wire: str, rule: str) -> None:
    assert_fault(wire, rule=rule, code=ErrorCode.CONNECTION_ERROR)


@pytest.mark.parametrize("type_word", ["1000", "1400", "1800 00000001", "1C00 00000001"])
def test_id1_request_on_stream_zero_is_connection_error(type_word: str) -> None:
    assert_fault("00000000 " + type_word, rule="ID-1", code=ErrorCode.CONNECTION_ERROR)


@pytest.mark.parametrize(
    ("wire", "rule"),
    [
        ("00000000 2400", "ID-5"),  # CANCEL on stream 0
        ("00000000 2820 61", "ID-5"),  # PAYLOAD on stream 0
        ("00000000 2000 00000001", "U-1"),  # REQUEST_N on stream 0
        ("00000005 3100 6D", "MP-3"),  # METADATA_PUSH on a stream
    ],
)
def test_id5_mp3_frames_to_be_ignored_raise_ignorable_errors(wire: str, rule: str) -> None:
    assert_fault(wire, rule=rule, code=ErrorCode.CONNECTION_ERROR, ignorable=True)


@pytest.mark.parametrize(
    "wire",
    [
        "00000001 1800 00000000 78",  # REQUEST_STREAM n=0
        "00000001 1C00 00000000",  # REQUEST_CHANNEL n=0
        "00000001 2000 00000000",  # REQUEST_N 0
        "00000001 2000 80000000",  # REQUEST_N 0 once the reserved bit is masked (FL-3)
    ],
)
def test_rn1_request_n_of_zero_is_a_stream_level_invalid(wire: str) -> None:
    err = assert_fault(wire, rule="RN-1", code=ErrorCode.INVALID, level=FaultLevel.STREAM)
    assert err.stream_id == 1
    assert not err.is_connection_level


def test_d5_lease_zero_values_are_accepted() -> None:
    assert decode_frame(h("00000000 0800 00000000 00000000")) == LeaseFrame(0, 0)


def test_d6_keepalive_position_zero_is_accepted() -> None:
    assert decode_frame(h("00000000 0C00 0000000000000000")) == KeepaliveFrame(0)


# --- IG-1 / IG-2 / IG-3 ---------------------------------------------------------------


def test_ig1_unknown_type_with_i_flag_is_ignorable() -> None:
    err = assert_fault(
        "00000001 4200",
        rule="IG-1",
        code=ErrorCode.CONNECTION_ERROR,
        ignorable=True,
        exc=UnknownFrameTypeError,
    )
    assert err.frame_type == 0x10


def test_ig2_unknown_type_without_i_flag_is_a_connection_error() -> None:
    err = assert_fault(
        "00000001 4000", rule="IG-2", code=ErrorCode.CONNECTION_ERROR, exc=UnknownFrameTypeError
    )
    assert err.frame_type == 0x10


def test_ig2_reserved_type_zero_is_unknown() -> None:
    assert_fault("00000000 0000", rule="IG-2", code=ErrorCode.CONNECTION_ERROR, exc=UnknownFrameTypeError)


def test_ig3_ext_with_type_zero_is_malformed() -> None:
    assert_fault("00000000 FC00 00000000", rule="IG-3", code=ErrorCode.CONNECTION_ERROR)
    assert_fault("00000000 FE00 00000000", rule="IG-3", code=ErrorCode.CONNECTION_ERROR, ignorable=True)


def test_ig3_ext_may_use_any_stream() -> None:
    assert decode_frame(h("00000000 FC00 00000005")) == ExtFrame(0, 5)
    assert decode_frame(h("0000002A FC00 00000005 AA")) == ExtFrame(42, 5, b"\xaa")


# --- encoder validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        RequestResponseFrame(0, b"x"),
        RequestStreamFrame(1, 0),
        RequestChannelFrame(1, 0),
        RequestNFrame(1, 0),
        SetupFrame(0, 1, "a", "b"),
        SetupFrame(1, 1, "é", "b"),
        SetupFrame(1, 1, "a" * 256, "b"),
        SetupFrame(1, 1, "a", "b", resume_token=b"t" * 65536),
        SetupFrame(1, 1, "a", "b", major=70000),
        LeaseFrame(-1, 0),
        ErrorFrame(1, 1 << 32),
        ErrorFrame(-1, 1),
        ExtFrame(1, 0),
        ResumeFrame(b"t", -1, 0),
        ResumeOkFrame(-1),
    ],
)
def test_encoder_refuses_values_the_wire_cannot_carry(frame: Frame) -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(frame)


def test_fl1_encoder_refuses_a_frame_over_the_maximum() -> None:
    with pytest.raises(LocalProtocolError, match="fragment it"):
        encode_frame(PayloadFrame(1, b"\0" * 0xFFFFFF, next=True))


def test_fl1_largest_frame_encodes() -> None:
    frame = PayloadFrame(1, b"\0" * (0xFFFFFF - 6), next=True)
    wire = encode_frame_with_length(frame)
    assert wire[:3] == h("FFFFFF")
    assert decode_frame(wire[3:]) == frame


def test_length_prefix_refuses_values_over_u24() -> None:
    assert length_prefix(0xFFFFFF) == h("FFFFFF")
    with pytest.raises(LocalProtocolError):
        length_prefix(0x1000000)


def test_encode_frame_rejects_non_frames() -> None:
    with pytest.raises(TypeError):
        encode_frame(object())  # type: ignore[arg-type]
