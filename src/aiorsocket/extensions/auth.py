"""Authentication metadata: ``message/x.rsocket.authentication.v0`` (checklist §5.4).

The entry starts with a type item: a well-known auth type id (``simple`` 0x00,
``bearer`` 0x01) or a US-ASCII type name written as length-1 (D-1, as
rsocket-java does).  The rest of the entry is the auth payload.

* :class:`SimpleAuth`: u16 username length, UTF-8 username, UTF-8 password
  (the rest).  Peers from before February 2020 sent a u8 username length;
  ``decode_auth(..., legacy_u8_username=True)`` reads that layout.  We only
  ever write the current one.
* :class:`BearerAuth`: the UTF-8 token is the whole payload.
* :class:`CustomAuth`: any other type, by name or by an id we do not know,
  with its payload kept as raw bytes so it re-encodes unchanged.

Rules enforced on decode (each raises :class:`~aiorsocket.errors.MetadataError`):

* AU-1: the entry is empty (no auth type).
* AU-2: the custom auth type name runs past the end of the entry.
* AU-3: the custom auth type name is not US-ASCII.
* AU-4: a simple payload is too short for its username length field, or the
  username runs past the end.
* AU-5: a username, password or bearer token is not valid UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, TypeAlias

from ..errors import LocalProtocolError, MetadataError
from ._wire import Buffer, decode_utf8, encode_type_item, read_type_item

_MAX_U16: Final = 0xFFFF


class WellKnownAuthType(IntEnum):
    SIMPLE = 0x00
    BEARER = 0x01


_WELL_KNOWN_AUTH_IDS: Final = frozenset(WellKnownAuthType)


@dataclass(frozen=True, slots=True)
class SimpleAuth:
    """Username and password, in cleartext: only send it over a confidential transport."""

    username: str
    password: str

    def __repr__(self) -> str:
        # Keep passwords out of logs and tracebacks.
        return f"SimpleAuth(username={self.username!r}, password=<hidden>)"


@dataclass(frozen=True, slots=True)
class BearerAuth:
    token: str

    def __repr__(self) -> str:
        return "BearerAuth(token=<hidden>)"


@dataclass(frozen=True, slots=True)
class CustomAuth:
    """An auth type other than simple or bearer.

    ``auth_type`` is the type name (sent as a string) or a well-known id this
    library does not know (2..127, sent as an id).
    """

    auth_type: str | int
    payload: bytes = b""

    def __post_init__(self) -> None:
        if self.auth_type in _WELL_KNOWN_AUTH_IDS:
            # Otherwise decode would hand back a SimpleAuth/BearerAuth and the
            # value would not survive a round trip.
            raise LocalProtocolError(
                f"auth type id {self.auth_type} is {WellKnownAuthType(self.auth_type).name}; "
                "use SimpleAuth or BearerAuth"
            )


Auth: TypeAlias = SimpleAuth | BearerAuth | CustomAuth


def encode_auth(auth: Auth) -> bytes:
    """The body of an authentication entry for ``auth``."""
    if isinstance(auth, SimpleAuth):
        username = auth.username.encode("utf-8")
        if len(username) > _MAX_U16:
            raise LocalProtocolError(f"username is {len(username)} bytes of UTF-8; the limit is 65535")
        return (
            bytes((0x80 | WellKnownAuthType.SIMPLE,))
            + len(username).to_bytes(2, "big")
            + username
            + auth.password.encode("utf-8")
        )
    if isinstance(auth, BearerAuth):
        return bytes((0x80 | WellKnownAuthType.BEARER,)) + auth.token.encode("utf-8")
    return encode_type_item(auth.auth_type, what="auth type") + auth.payload


def decode_auth(buf: Buffer, *, legacy_u8_username: bool = False) -> Auth:
    """Decode an authentication entry body.

    ``legacy_u8_username`` reads simple auth with the pre-2020 u8 username
    length; it is off by default because the two layouts cannot be told apart
    from the bytes alone.
    """
    view = memoryview(buf)
    if not view:
        raise MetadataError("authentication entry is empty", rule="AU-1")
    auth_type, offset = read_type_item(view, 0, what="auth type", truncated_rule="AU-2", ascii_rule="AU-3")
    payload = view[offset:]
    if auth_type == WellKnownAuthType.SIMPLE:
        return _decode_simple(payload, 1 if legacy_u8_username else 2)
    if auth_type == WellKnownAuthType.BEARER:
        return BearerAuth(decode_utf8(payload, what="bearer token", rule="AU-5"))
    return CustomAuth(auth_type, bytes(payload))


def _decode_simple(payload: memoryview, length_size: int) -> SimpleAuth:
    if len(payload) < length_size:
        raise MetadataError(
            f"simple auth needs a {length_size}-byte username length, got {len(payload)} bytes", rule="AU-4"
        )
    end = length_size + int.from_bytes(payload[:length_size], "big")
    if end > len(payload):
        raise MetadataError(
            f"username of {end - length_size} bytes overruns the entry ({len(payload) - length_size} left)",
            rule="AU-4",
        )
    return SimpleAuth(
        decode_utf8(payload[length_size:end], what="username", rule="AU-5"),
        decode_utf8(payload[end:], what="password", rule="AU-5"),
    )
