"""Composite metadata (checklist §5.1, D-1, D-19): exact bytes, round trips, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiorsocket.errors import LocalProtocolError, MetadataError
from aiorsocket.extensions import (
    CompactIds,
    CompositeEntry,
    WellKnownMimeType,
    decode_composite,
    encode_composite,
    iter_composite,
)
from support.extension_strategies import COMPOSITE_BYTES, ENTRIES

ROUTING = WellKnownMimeType.MESSAGE_RSOCKET_ROUTING


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- §5.1 byte examples -----------------------------------------------------------


def test_s5_1_route_hello_vector() -> None:
    entry = CompositeEntry(ROUTING, b"\x05hello")
    assert encode_composite([entry]) == h("FE 000006 05 68656C6C6F")
    assert decode_composite(h("FE 000006 05 68656C6C6F")) == [entry]


def test_s5_1_well_known_id_byte_is_0x80_or_id() -> None:
    assert encode_composite([CompositeEntry(WellKnownMimeType.APPLICATION_JSON, b"")]) == h("85 000000")
    assert encode_composite([CompositeEntry(0x7F, b"")]) == h("FF 000000")


def test_s5_1_empty_buffer_is_zero_entries() -> None:
    assert decode_composite(b"") == []
    assert encode_composite([]) == b""


def test_s5_1_order_kept_and_same_mime_may_repeat() -> None:
    entries = [
        CompositeEntry("text/b", b"1"),
        CompositeEntry(ROUTING, b"\x01a"),
        CompositeEntry("text/b", b"2"),
    ]
    assert decode_composite(encode_composite(entries)) == entries


def test_d1_custom_mime_written_as_length_minus_one() -> None:
    assert encode_composite([CompositeEntry("x/y", b"\xaa")]) == h("02 782F79 000001 AA")
    assert decode_composite(h("02 782F79 000001 AA")) == [CompositeEntry("x/y", b"\xaa")]


def test_d1_custom_mime_of_128_bytes_uses_0x7f() -> None:
    mime = "a/" + "b" * 126
    encoded = encode_composite([CompositeEntry(mime, b"")])
    assert encoded[0] == 0x7F
    assert decode_composite(encoded) == [CompositeEntry(mime, b"")]


@pytest.mark.parametrize("mime", ["", "a/" + "b" * 127, "text/é", -1, 0x80])
def test_d1_unencodable_mime_is_local_error(mime: str | int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_composite([CompositeEntry(mime, b"")])


def test_s5_1_content_over_u24_is_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_composite([CompositeEntry("a/b", bytes(0x1000000))])


# --- entry forms ------------------------------------------------------------------


def test_s5_1_wire_form_is_kept_id_versus_string() -> None:
    as_string = CompositeEntry("message/x.rsocket.routing.v0", b"")
    as_id = CompositeEntry(ROUTING, b"")
    assert decode_composite(encode_composite([as_string]))[0].mime_id is None
    assert decode_composite(encode_composite([as_id]))[0].mime_id == 0x7E
    assert as_string.mime_name == as_id.mime_name == "message/x.rsocket.routing.v0"
    assert as_string.is_mime(ROUTING)
    assert as_id.is_mime("message/x.rsocket.routing.v0")
    assert not as_id.is_mime("application/json")


def test_s5_3_unknown_reserved_id_preserved_and_skippable() -> None:
    raw = h("D0 000002 BEEF") + h("FE 000002 01 61")
    first, second = decode_composite(raw)
    assert first.mime == 0x50
    assert first.mime_name is None
    assert first.is_mime(0x50)
    assert not first.is_mime(0x51)
    assert second.is_mime(ROUTING)
    assert encode_composite([first, second]) == raw
    assert [entry for entry in decode_composite(raw) if entry.mime_name is not None] == [second]


def test_s5_1_custom_mime_entry_preserved() -> None:
    raw = h("08 6170706C2F74657374 000003 010203")
    (entry,) = decode_composite(raw)
    assert entry == CompositeEntry("appl/test", b"\x01\x02\x03")
    assert encode_composite([entry]) == raw


def test_d19_entry_of_applies_compact_policy() -> None:
    assert CompositeEntry.of("application/json").mime_id == 0x05
    assert CompositeEntry.of("application/x-capnp").mime_id is None
    assert CompositeEntry.of("application/x-capnp", compact=CompactIds.ALL).mime_id == 0x29


def test_decoder_accepts_memoryview_and_bytearray() -> None:
    raw = h("FE 000006 05 68656C6C6F")
    assert decode_composite(memoryview(raw)) == decode_composite(bytearray(raw)) == decode_composite(raw)
    assert type(decode_composite(memoryview(raw))[0].content) is bytes


def test_s5_1_iterator_yields_good_entries_before_a_fault() -> None:
    entries = iter_composite(h("FE 000001 00") + h("FE 000009 00"))
    assert next(entries) == CompositeEntry(ROUTING, b"\x00")
    with pytest.raises(MetadataError) as info:
        next(entries)
    assert info.value.rule == "CM-1"


# --- malformed input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("FE 000007 05 68656C6C6F", "CM-1"),  # length overrun by one byte
        ("FE FFFFFF", "CM-1"),
        ("FE", "CM-2"),  # no u24 length at all
        ("FE 0000", "CM-2"),  # truncated entry length
        ("02 782F", "CM-2"),  # custom MIME cut short
        ("7F 6162", "CM-2"),
        ("02 78FF79 000000", "CM-3"),  # non-ASCII MIME byte
    ],
)
def test_cm_malformed_entries_raise_metadata_error_with_rule(raw: str, rule: str) -> None:
    with pytest.raises(MetadataError) as info:
        decode_composite(h(raw))
    assert info.value.rule == rule


# --- properties -------------------------------------------------------------------


@given(st.lists(ENTRIES, max_size=6))
def test_s5_1_roundtrip_values(entries: list[CompositeEntry]) -> None:
    assert decode_composite(encode_composite(entries)) == entries


@given(COMPOSITE_BYTES)
def test_s5_1_roundtrip_well_formed_bytes(raw: bytes) -> None:
    assert encode_composite(decode_composite(raw)) == raw


@given(st.binary(max_size=64))
def test_fuzz_composite_decoder_raises_only_metadata_error(raw: bytes) -> None:
    with contextlib.suppress(MetadataError):
        decode_composite(raw)
