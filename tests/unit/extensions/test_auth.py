"""Authentication metadata (checklist §5.4, D-1): exact bytes, round trips, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiorsocket.errors import LocalProtocolError, MetadataError
from aiorsocket.extensions import (
    BearerAuth,
    CompositeEntry,
    CustomAuth,
    SimpleAuth,
    WellKnownMimeType,
    decode_auth,
    decode_composite,
    encode_auth,
    encode_composite,
)
from aiorsocket.extensions.auth import Auth
from support.extension_strategies import AUTH_BYTES, AUTHS


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_s5_4_simple_user_pass_vector_inside_composite() -> None:
    entry = CompositeEntry(
        WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION, encode_auth(SimpleAuth("user", "pass"))
    )
    vector = h("FC 00000B 80 0004 75736572 70617373")
    assert encode_composite([entry]) == vector
    (decoded,) = decode_composite(vector)
    assert decode_auth(decoded.content) == SimpleAuth("user", "pass")


def test_s5_4_bearer_is_0x81_then_token() -> None:
    assert encode_auth(BearerAuth("tok")) == h("81 746F6B")
    assert decode_auth(h("81 746F6B")) == BearerAuth("tok")


def test_s5_4_simple_empty_username_and_password() -> None:
    assert encode_auth(SimpleAuth("", "")) == h("80 0000")
    assert decode_auth(h("80 0000")) == SimpleAuth("", "")


def test_s5_4_simple_username_is_u16_length() -> None:
    user = "u" * 300
    encoded = encode_auth(SimpleAuth(user, "p"))
    assert encoded[:3] == h("80 012C")
    assert decode_auth(encoded) == SimpleAuth(user, "p")
    with pytest.raises(LocalProtocolError):
        encode_auth(SimpleAuth("u" * 65536, ""))


def test_s5_4_legacy_u8_username_length_is_opt_in() -> None:
    old = h("80 04 75736572 70617373")
    assert decode_auth(old, legacy_u8_username=True) == SimpleAuth("user", "pass")
    # Read with the current layout, the same bytes give a 0x0475-byte username.
    with pytest.raises(MetadataError) as info:
        decode_auth(old)
    assert info.value.rule == "AU-4"
    # We always write the current layout.
    assert encode_auth(decode_auth(old, legacy_u8_username=True)) == h("80 0004 75736572 70617373")


def test_d1_custom_auth_type_written_as_length_minus_one() -> None:
    assert encode_auth(CustomAuth("jwt", b"\x01")) == h("02 6A7774 01")
    assert decode_auth(h("02 6A7774 01")) == CustomAuth("jwt", b"\x01")


@pytest.mark.parametrize("auth_type", ["", "x" * 129, "clé"])
def test_d1_unencodable_custom_auth_type_is_local_error(auth_type: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode_auth(CustomAuth(auth_type, b""))


def test_s5_4_unknown_well_known_auth_id_preserved() -> None:
    raw = h("85 DEADBEEF")
    assert decode_auth(raw) == CustomAuth(5, b"\xde\xad\xbe\xef")
    assert encode_auth(decode_auth(raw)) == raw


@pytest.mark.parametrize("auth_id", [0, 1])
def test_s5_4_custom_auth_refuses_simple_and_bearer_ids(auth_id: int) -> None:
    with pytest.raises(LocalProtocolError):
        CustomAuth(auth_id, b"")


def test_s5_4_secrets_stay_out_of_repr() -> None:
    assert "hunter2" not in repr(SimpleAuth("bob", "hunter2"))
    assert "s3cret" not in repr(BearerAuth("s3cret"))


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "AU-1"),
        ("05 6A77", "AU-2"),  # custom type name cut short
        ("02 6AFF74", "AU-3"),
        ("80", "AU-4"),  # no username length at all
        ("80 00", "AU-4"),  # truncated username length
        ("80 0005 75736572", "AU-4"),  # username overruns
        ("80 0001 FF", "AU-5"),
        ("80 0001 61 FF", "AU-5"),
        ("81 C328", "AU-5"),
    ],
)
def test_au_malformed_auth_raises_metadata_error_with_rule(raw: str, rule: str) -> None:
    with pytest.raises(MetadataError) as info:
        decode_auth(h(raw))
    assert info.value.rule == rule


def test_au4_legacy_layout_checks_its_own_length() -> None:
    with pytest.raises(MetadataError) as info:
        decode_auth(h("80 05 61"), legacy_u8_username=True)
    assert info.value.rule == "AU-4"
    with pytest.raises(MetadataError) as info:
        decode_auth(h("80"), legacy_u8_username=True)
    assert info.value.rule == "AU-4"


@given(AUTHS)
def test_s5_4_roundtrip_values(auth: Auth) -> None:
    assert decode_auth(encode_auth(auth)) == auth


@given(AUTH_BYTES)
def test_s5_4_roundtrip_well_formed_bytes(raw: bytes) -> None:
    assert encode_auth(decode_auth(raw)) == raw


@given(st.binary(max_size=48), st.booleans())
def test_fuzz_auth_decoder_raises_only_metadata_error(raw: bytes, legacy: bool) -> None:
    with contextlib.suppress(MetadataError):
        decode_auth(raw, legacy_u8_username=legacy)
