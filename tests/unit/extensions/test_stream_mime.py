"""Per-stream data MIME types (checklist §5.5, D-1): exact bytes, round trips, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiorsocket.errors import LocalProtocolError, MetadataError
from aiorsocket.extensions import (
    WellKnownMimeType,
    decode_accept_mime_types,
    decode_mime_type,
    encode_accept_mime_types,
    encode_mime_type,
)
from support.extension_strategies import ACCEPT_BYTES, TYPE_ITEM_BYTES, TYPE_REFS


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_s5_5_mime_type_well_known_is_one_byte() -> None:
    assert encode_mime_type(WellKnownMimeType.APPLICATION_JSON) == h("85")
    assert decode_mime_type(h("85")) == WellKnownMimeType.APPLICATION_JSON


def test_d1_mime_type_string_written_as_length_minus_one() -> None:
    assert encode_mime_type("text/x") == h("05 746578742F78")
    assert decode_mime_type(h("05 746578742F78")) == "text/x"


def test_s5_5_accept_is_a_run_of_items_in_order() -> None:
    raw = h("85 05 746578742F78 A1")
    assert decode_accept_mime_types(raw) == [WellKnownMimeType.APPLICATION_JSON, "text/x", 0x21]
    assert encode_accept_mime_types([0x05, "text/x", WellKnownMimeType.TEXT_PLAIN]) == raw


def test_s5_5_accept_may_be_empty() -> None:
    assert decode_accept_mime_types(b"") == []
    assert encode_accept_mime_types([]) == b""


def test_s5_3_unknown_reserved_data_mime_id_preserved() -> None:
    assert decode_mime_type(h("D0")) == 0x50
    assert encode_mime_type(decode_mime_type(h("D0"))) == h("D0")


@pytest.mark.parametrize("mime", ["", "x" * 129, "text/é", 0x80])
def test_d1_unencodable_data_mime_is_local_error(mime: str | int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_mime_type(mime)
    with pytest.raises(LocalProtocolError):
        encode_accept_mime_types(["application/json", mime])


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "MT-1"),
        ("85 85", "MT-2"),  # exactly one item
        ("85 00", "MT-2"),
        ("05 7465", "MT-3"),
        ("01 80FF", "MT-4"),
    ],
)
def test_mt_malformed_mime_type_raises_metadata_error_with_rule(raw: str, rule: str) -> None:
    with pytest.raises(MetadataError) as info:
        decode_mime_type(h(raw))
    assert info.value.rule == rule


@pytest.mark.parametrize(("raw", "rule"), [("85 05 7465", "MT-3"), ("85 00 FF", "MT-4")])
def test_mt_malformed_accept_raises_metadata_error_with_rule(raw: str, rule: str) -> None:
    with pytest.raises(MetadataError) as info:
        decode_accept_mime_types(h(raw))
    assert info.value.rule == rule


@given(TYPE_REFS)
def test_s5_5_mime_type_roundtrip_values(mime: str | int) -> None:
    assert decode_mime_type(encode_mime_type(mime)) == mime


@given(st.lists(TYPE_REFS, max_size=5))
def test_s5_5_accept_roundtrip_values(mimes: list[str | int]) -> None:
    assert decode_accept_mime_types(encode_accept_mime_types(mimes)) == mimes


@given(TYPE_ITEM_BYTES)
def test_s5_5_mime_type_roundtrip_well_formed_bytes(raw: bytes) -> None:
    assert encode_mime_type(decode_mime_type(raw)) == raw


@given(ACCEPT_BYTES)
def test_s5_5_accept_roundtrip_well_formed_bytes(raw: bytes) -> None:
    assert encode_accept_mime_types(decode_accept_mime_types(raw)) == raw


@given(st.binary(max_size=48))
def test_fuzz_data_mime_decoders_raise_only_metadata_error(raw: bytes) -> None:
    for decode in (decode_mime_type, decode_accept_mime_types):
        with contextlib.suppress(MetadataError):
            decode(raw)
