"""One-call composite metadata builder and reader (checklist §5, D-19)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiorsocket.errors import MetadataError
from aiorsocket.extensions import (
    BearerAuth,
    CompactIds,
    CompositeEntry,
    CompositeMetadata,
    Sampling,
    SimpleAuth,
    TracingMetadata,
    WellKnownMimeType,
    build_composite_metadata,
    decode_composite,
    encode_composite,
    parse_composite_metadata,
)
from aiorsocket.extensions.auth import Auth
from support.extension_strategies import AUTHS, CONTENT, MIME_STRINGS, TAGS, tracings

JSON = "application/json"


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_s5_1_route_hello_vector() -> None:
    assert build_composite_metadata(route="hello") == h("FE 000006 05 68656C6C6F")
    assert parse_composite_metadata(h("FE 000006 05 68656C6C6F")).route == "hello"


def test_s5_4_simple_auth_vector() -> None:
    vector = h("FC 00000B 80 0004 75736572 70617373")
    assert build_composite_metadata(auth=SimpleAuth("user", "pass")) == vector
    assert parse_composite_metadata(vector).auth == SimpleAuth("user", "pass")


def test_peers_route_echo_matches_java_js_py_bytes() -> None:
    assert build_composite_metadata(route="echo") == h("FE 000005 04 6563686F")


def test_builder_nothing_gives_empty_metadata() -> None:
    assert build_composite_metadata() == b""
    assert parse_composite_metadata(b"") == CompositeMetadata()


def test_builder_fixed_entry_order_then_extras() -> None:
    raw = build_composite_metadata(
        extra=[("text/x-first", b"1")],
        tracing=TracingMetadata(Sampling.SAMPLED),
        auth=BearerAuth("t"),
        accept=[JSON],
        data_mime=JSON,
        route="r",
    )
    assert raw == (
        h("FE 000002 01 72")
        + h("FA 000001 85")
        + h("FB 000001 85")
        + h("FC 000002 81 74")
        + h("FD 000001 20")
        + h("0B 746578742F782D6669727374 000001 31")
    )


def test_builder_full_request_reads_back() -> None:
    tracing = TracingMetadata(Sampling.SAMPLED, trace_id=1, span_id=2)
    raw = build_composite_metadata(
        route="users.42",
        tags=["v2"],
        auth=BearerAuth("tok"),
        data_mime=JSON,
        accept=[JSON, "application/x-capnp"],
        tracing=tracing,
        extra=[("text/x-custom", b"c"), CompositeEntry(0x50, b"r")],
    )
    meta = parse_composite_metadata(raw)
    assert meta.route == "users.42"
    assert meta.tags == ("users.42", "v2")
    assert meta.auth == BearerAuth("tok")
    assert meta.data_mime == JSON
    assert meta.accept == (JSON, "application/x-capnp")
    assert meta.tracing == tracing
    assert meta.find("text/x-custom") == (CompositeEntry("text/x-custom", b"c"),)
    assert meta.find(0x50) == (CompositeEntry(0x50, b"r"),)
    assert len(meta.entries) == 7
    assert encode_composite(meta.entries) == raw


def test_builder_tags_without_route_are_written_as_given() -> None:
    assert parse_composite_metadata(build_composite_metadata(tags=["a", "b"])).tags == ("a", "b")


def test_builder_bare_string_is_one_tag_or_one_accepted_mime() -> None:
    meta = parse_composite_metadata(build_composite_metadata(tags="v2", accept=JSON))
    assert meta.tags == ("v2",)
    assert meta.accept == (JSON,)


def test_d19_builder_sends_ids_past_0x28_as_strings_by_default() -> None:
    raw = build_composite_metadata(
        data_mime="application/x-capnp", extra=[("application/x-flatbuffers", b"")]
    )
    (data_mime, flatbuffers) = decode_composite(raw)
    assert data_mime.content == b"\x12application/x-capnp"
    assert flatbuffers.mime == "application/x-flatbuffers"


def test_d19_builder_compact_all_and_none() -> None:
    assert build_composite_metadata(data_mime="application/x-capnp", compact=CompactIds.ALL) == h(
        "FA 000001 A9"
    )
    as_strings = decode_composite(
        build_composite_metadata(route="r", data_mime=JSON, compact=CompactIds.NONE)
    )
    assert [entry.mime for entry in as_strings] == [
        "message/x.rsocket.routing.v0",
        "message/x.rsocket.mime-type.v0",
    ]
    assert as_strings[1].content == b"\x0fapplication/json"


def test_s5_3_string_form_extension_entries_are_recognised() -> None:
    raw = encode_composite(
        [
            CompositeEntry("message/x.rsocket.routing.v0", b"\x01r"),
            CompositeEntry("message/x.rsocket.mime-type.v0", b"\x0fapplication/json"),
        ]
    )
    meta = parse_composite_metadata(raw)
    assert meta.route == "r"
    assert meta.data_mime == JSON


def test_builder_first_entry_of_a_kind_wins_rest_kept() -> None:
    routing = WellKnownMimeType.MESSAGE_RSOCKET_ROUTING
    raw = encode_composite([CompositeEntry(routing, b"\x01a"), CompositeEntry(routing, b"\x01b")])
    meta = parse_composite_metadata(raw)
    assert meta.route == "a"
    assert [entry.content for entry in meta.find(routing)] == [b"\x01a", b"\x01b"]


def test_s5_3_unknown_reserved_ids_in_data_mime_and_accept_stay_ints() -> None:
    raw = encode_composite(
        [
            CompositeEntry(WellKnownMimeType.MESSAGE_RSOCKET_MIMETYPE, b"\xd0"),
            CompositeEntry(WellKnownMimeType.MESSAGE_RSOCKET_ACCEPT_MIMETYPES, b"\xd1\x85"),
        ]
    )
    meta = parse_composite_metadata(raw)
    assert meta.data_mime == 0x50
    assert meta.accept == (0x51, JSON)


def test_s5_4_legacy_u8_username_passes_through() -> None:
    raw = encode_composite([CompositeEntry(0x7C, h("80 01 75 70"))])
    assert parse_composite_metadata(raw, legacy_u8_username=True).auth == SimpleAuth("u", "p")


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("FE 000002 05 68", "RT-1"),
        ("FC 000000", "AU-1"),
        ("FA 000000", "MT-1"),
        ("FB 000002 05 74", "MT-3"),
        ("FD 000000", "TR-1"),
        ("FE 000009 05", "CM-1"),
    ],
)
def test_builder_malformed_known_entry_raises_its_rule(entry: str, rule: str) -> None:
    with pytest.raises(MetadataError) as info:
        parse_composite_metadata(h(entry))
    assert info.value.rule == rule


def test_builder_unknown_entries_are_never_looked_into() -> None:
    raw = encode_composite([CompositeEntry("text/x-junk", b"\xff\xff"), CompositeEntry(0x50, b"\x00")])
    assert len(parse_composite_metadata(raw).entries) == 2


@given(
    route=st.none() | TAGS,
    tags=st.lists(TAGS, max_size=3),
    auth=st.none() | AUTHS,
    data_mime=st.none() | MIME_STRINGS,
    accept=st.lists(MIME_STRINGS, max_size=3),
    tracing=st.none() | tracings(),
    extra=st.lists(st.tuples(MIME_STRINGS, CONTENT), max_size=3),
    compact=st.sampled_from(CompactIds),
)
def test_builder_roundtrip(
    route: str | None,
    tags: list[str],
    auth: Auth | None,
    data_mime: str | None,
    accept: list[str],
    tracing: TracingMetadata | None,
    extra: list[tuple[str, bytes]],
    compact: CompactIds,
) -> None:
    raw = build_composite_metadata(
        route=route,
        tags=tags,
        auth=auth,
        data_mime=data_mime,
        accept=accept,
        tracing=tracing,
        extra=extra,
        compact=compact,
    )
    meta = parse_composite_metadata(raw)
    expected_tags = ([route] if route is not None else []) + tags
    assert meta.tags == tuple(expected_tags)
    assert meta.route == (expected_tags[0] if expected_tags else None)
    assert meta.auth == auth
    assert meta.data_mime == data_mime
    assert meta.accept == tuple(accept)
    assert meta.tracing == tracing
    assert encode_composite(meta.entries) == raw


KNOWN_EXTENSION_IDS = st.sampled_from([0x7A, 0x7B, 0x7C, 0x7D, 0x7E])


@given(st.lists(st.tuples(KNOWN_EXTENSION_IDS, st.binary(max_size=40)), max_size=4), st.booleans())
def test_fuzz_reader_on_random_extension_bodies_raises_only_metadata_error(
    items: list[tuple[int, bytes]], legacy: bool
) -> None:
    raw = encode_composite([CompositeEntry(mime, body) for mime, body in items])
    with contextlib.suppress(MetadataError):
        parse_composite_metadata(raw, legacy_u8_username=legacy)


@given(st.binary(max_size=64))
def test_fuzz_reader_on_random_bytes_raises_only_metadata_error(raw: bytes) -> None:
    with contextlib.suppress(MetadataError):
        parse_composite_metadata(raw)
