"""Well-known MIME table (checklist §5.3) and the D-19 id/string policy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiorsocket.extensions import CompactIds, WellKnownMimeType, mime_id, mime_name, mime_wire_form
from aiorsocket.extensions.mimetypes import as_well_known, display_mime

# Copied from checklist §5.3 so that a typo in the module's table shows up here.
TABLE_5_3 = {
    0x00: "application/avro", 0x01: "application/cbor", 0x02: "application/graphql",
    0x03: "application/gzip", 0x04: "application/javascript", 0x05: "application/json",
    0x06: "application/octet-stream", 0x07: "application/pdf",
    0x08: "application/vnd.apache.thrift.binary", 0x09: "application/vnd.google.protobuf",
    0x0A: "application/xml", 0x0B: "application/zip", 0x0C: "audio/aac", 0x0D: "audio/mp3",
    0x0E: "audio/mp4", 0x0F: "audio/mpeg3", 0x10: "audio/mpeg", 0x11: "audio/ogg",
    0x12: "audio/opus", 0x13: "audio/vorbis", 0x14: "image/bmp", 0x15: "image/gif",
    0x16: "image/heic-sequence", 0x17: "image/heic", 0x18: "image/heif-sequence",
    0x19: "image/heif", 0x1A: "image/jpeg", 0x1B: "image/png", 0x1C: "image/tiff",
    0x1D: "multipart/mixed", 0x1E: "text/css", 0x1F: "text/csv", 0x20: "text/html",
    0x21: "text/plain", 0x22: "text/xml", 0x23: "video/H264", 0x24: "video/H265",
    0x25: "video/VP8", 0x26: "application/x-hessian", 0x27: "application/x-java-object",
    0x28: "application/cloudevents+json", 0x29: "application/x-capnp",
    0x2A: "application/x-flatbuffers",
    0x7A: "message/x.rsocket.mime-type.v0", 0x7B: "message/x.rsocket.accept-mime-types.v0",
    0x7C: "message/x.rsocket.authentication.v0", 0x7D: "message/x.rsocket.tracing-zipkin.v0",
    0x7E: "message/x.rsocket.routing.v0", 0x7F: "message/x.rsocket.composite-metadata.v0",
}  # fmt: skip


def test_s5_3_full_table_both_directions() -> None:
    assert {member.value: member.mime for member in WellKnownMimeType} == TABLE_5_3
    for mime_id_, name in TABLE_5_3.items():
        assert mime_name(mime_id_) == name
        assert mime_id(name) == mime_id_


@given(st.integers(0x2B, 0x79))
def test_s5_3_unassigned_ids_stay_unknown_reserved_ints(raw: int) -> None:
    assert mime_name(raw) is None
    assert as_well_known(raw) == raw
    assert not isinstance(as_well_known(raw), WellKnownMimeType)
    assert display_mime(raw) == raw


def test_s5_3_lookup_is_exact_like_rsocket_java() -> None:
    assert mime_id("video/H264") == 0x23
    assert mime_id("video/h264") is None
    assert mime_id("application/x-unknown") is None


@pytest.mark.parametrize(
    ("mime", "expected"),
    [
        ("application/json", WellKnownMimeType.APPLICATION_JSON),
        ("application/cloudevents+json", WellKnownMimeType.APPLICATION_CLOUDEVENTS_JSON),
        ("application/x-capnp", "application/x-capnp"),
        ("application/x-flatbuffers", "application/x-flatbuffers"),
        (WellKnownMimeType.APPLICATION_CAPNP, "application/x-capnp"),
        ("message/x.rsocket.routing.v0", WellKnownMimeType.MESSAGE_RSOCKET_ROUTING),
        ("text/x-mine", "text/x-mine"),
        (0x50, 0x50),
    ],
)
def test_d19_default_compacts_only_ids_rsocket_java_knows(mime: str | int, expected: str | int) -> None:
    form = mime_wire_form(mime)
    assert form == expected
    assert type(form) is type(expected)


def test_d19_compact_all_uses_ids_past_0x28() -> None:
    assert mime_wire_form("application/x-capnp", CompactIds.ALL) == 0x29
    assert mime_wire_form("application/x-flatbuffers", CompactIds.ALL) == 0x2A


def test_d19_compact_none_always_sends_strings() -> None:
    assert mime_wire_form("application/json", CompactIds.NONE) == "application/json"
    assert mime_wire_form(WellKnownMimeType.MESSAGE_RSOCKET_ROUTING, CompactIds.NONE) == (
        "message/x.rsocket.routing.v0"
    )
    # An unknown reserved id has no string form to fall back on.
    assert mime_wire_form(0x50, CompactIds.NONE) == 0x50


@given(st.integers(0, 0x7F))
def test_d19_policies_nest(raw: int) -> None:
    assert not CompactIds.NONE.allows(raw)
    assert CompactIds.JAVA_KNOWN.allows(raw) <= CompactIds.ALL.allows(raw)
    assert CompactIds.ALL.allows(raw) == (raw in TABLE_5_3)
