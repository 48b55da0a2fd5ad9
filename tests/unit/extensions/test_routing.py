"""Routing tags (checklist §5.2): exact bytes, round trips, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiorsocket.errors import LocalProtocolError, MetadataError
from aiorsocket.extensions import decode_routing, encode_routing
from support.extension_strategies import ROUTING_BYTES, TAGS


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_s5_1_route_hello_vector_body() -> None:
    assert encode_routing(["hello"]) == h("05 68656C6C6F")
    assert decode_routing(h("05 68656C6C6F")) == ["hello"]


def test_s5_2_several_tags_first_is_route_and_utf8_kept() -> None:
    raw = h("08 75736572732E3432") + h("02 C3A9") + h("00")
    assert decode_routing(raw) == ["users.42", "é", ""]
    assert encode_routing(["users.42", "é", ""]) == raw


def test_s5_2_empty_body_is_no_tags() -> None:
    assert decode_routing(b"") == []
    assert encode_routing([]) == b""


def test_s5_2_tag_of_255_bytes_fits_and_256_does_not() -> None:
    assert encode_routing(["a" * 255])[0] == 0xFF
    with pytest.raises(LocalProtocolError):
        encode_routing(["a" * 256])
    # The limit is on UTF-8 bytes, not characters.
    with pytest.raises(LocalProtocolError):
        encode_routing(["é" * 128])


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("05 68656C6C", "RT-1"),  # tag overruns by one byte
        ("01 61 03", "RT-1"),  # second tag has a length and nothing else
        ("02 C328", "RT-2"),  # invalid UTF-8 continuation
        ("01 FF", "RT-2"),
    ],
)
def test_rt_malformed_routing_raises_metadata_error_with_rule(raw: str, rule: str) -> None:
    with pytest.raises(MetadataError) as info:
        decode_routing(h(raw))
    assert info.value.rule == rule


@given(st.lists(TAGS, max_size=6))
def test_s5_2_roundtrip_values(tags: list[str]) -> None:
    assert decode_routing(encode_routing(tags)) == tags


@given(ROUTING_BYTES)
def test_s5_2_roundtrip_well_formed_bytes(raw: bytes) -> None:
    assert encode_routing(decode_routing(raw)) == raw


@given(st.binary(max_size=64))
def test_fuzz_routing_decoder_raises_only_metadata_error(raw: bytes) -> None:
    with contextlib.suppress(MetadataError):
        decode_routing(memoryview(raw))
