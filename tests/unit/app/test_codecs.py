"""Codecs by MIME type and per-stream MIME negotiation (checklist §5.5)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import pytest

from aiorsocket.app import (
    BytesCodec,
    CborCodec,
    CodecError,
    Codecs,
    JsonCodec,
    MissingExtraError,
    MsgpackCodec,
    TextCodec,
)
from aiorsocket.app._optional import import_optional, is_installed


@dataclass
class Point:
    x: int
    y: int


VALUE: Any = {"name": "ada", "points": [Point(1, 2)], "tags": ("a", "b"), "n": None, "f": 1.5}
PLAIN: Any = {"name": "ada", "points": [{"x": 1, "y": 2}], "tags": ["a", "b"], "n": None, "f": 1.5}


@pytest.mark.parametrize("codec", [JsonCodec(), JsonCodec(use_orjson=False), CborCodec(), MsgpackCodec()])
def test_structured_codecs_round_trip_dataclasses_as_plain_data(codec: Any) -> None:
    assert codec.decode(codec.encode(VALUE)) == PLAIN


def test_orjson_and_stdlib_json_write_the_same_compact_bytes() -> None:
    value = {"a": [1, 2.5, "é"], "b": {"c": None}, 3: True}
    assert JsonCodec(use_orjson=True).encode(value) == JsonCodec(use_orjson=False).encode(value)


@pytest.mark.parametrize("codec", [JsonCodec(), CborCodec(), MsgpackCodec()])
def test_empty_data_decodes_to_none(codec: Any) -> None:
    assert codec.decode(b"") is None


@pytest.mark.parametrize(
    ("codec", "garbage"),
    [
        (JsonCodec(), b"{"),
        (JsonCodec(use_orjson=False), b"[1,"),
        (CborCodec(), b"\xff\xff"),
        (MsgpackCodec(), b"\xc1"),
    ],
)
def test_malformed_data_raises_codec_error_naming_the_mime(codec: Any, garbage: bytes) -> None:
    with pytest.raises(CodecError, match=f"malformed {codec.mime}"):
        codec.decode(garbage)


def test_unencodable_values_raise_codec_error() -> None:
    with pytest.raises(CodecError, match="cannot encode as application/json"):
        JsonCodec().encode(object())


def test_text_and_bytes_codecs() -> None:
    assert TextCodec().encode("héllo") == "héllo".encode()
    assert TextCodec().decode(b"hi") == "hi"
    with pytest.raises(CodecError, match="malformed text/plain"):
        TextCodec().decode(b"\xff")
    assert BytesCodec().decode(b"\x00") == b"\x00"
    assert BytesCodec().encode(bytearray(b"ab")) == b"ab"
    with pytest.raises(CodecError, match="carries bytes or str"):
        BytesCodec().encode(3)


def test_lookup_ignores_parameters_and_case_and_follows_structured_suffixes() -> None:
    codecs = Codecs()
    assert isinstance(codecs.get("Application/JSON; charset=utf-8"), JsonCodec)
    assert isinstance(codecs.get("application/vnd.acme.order+json"), JsonCodec)
    assert isinstance(codecs.get("application/x.trace+cbor"), CborCodec)
    assert isinstance(codecs.get("application/msgpack"), MsgpackCodec)
    assert isinstance(codecs.get("text/csv"), TextCodec)
    with pytest.raises(CodecError, match="no codec for data MIME 'application/x-protobuf'"):
        codecs.get("application/x-protobuf")


def test_custom_codecs_register_under_extra_mimes() -> None:
    class Upper(TextCodec):
        def encode(self, value: Any) -> bytes:
            return str(value).upper().encode()

    codecs = Codecs()
    codecs.register(Upper(), "application/x-shout")
    assert codecs.get("application/x-shout").encode("hi") == b"HI"
    assert codecs.get("text/plain").encode("hi") == b"HI"


def test_negotiation_picks_the_first_accepted_mime_we_can_encode() -> None:
    codecs = Codecs()
    assert codecs.negotiate("application/json", []) == "application/json"
    assert (
        codecs.negotiate("application/json", ["application/x-protobuf", "application/cbor"])
        == "application/cbor"
    )
    assert codecs.negotiate("application/x-raw", ["application/x-raw"]) == "application/x-raw"
    assert codecs.negotiate("application/json", ["application/x-protobuf"]) is None


def test_a_missing_optional_library_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import_optional.cache_clear()
    is_installed.cache_clear()
    monkeypatch.setitem(sys.modules, "cbor2", None)
    try:
        codecs = Codecs()
        assert codecs.find("application/cbor") is None
        assert "application/cbor" not in codecs.mimes
        with pytest.raises(MissingExtraError, match=r"pip install 'aiorsocket\[codecs\]'"):
            codecs.get("application/cbor")
        with pytest.raises(MissingExtraError, match="'cbor2' package"):
            CborCodec().encode(1)
    finally:
        import_optional.cache_clear()
        is_installed.cache_clear()
