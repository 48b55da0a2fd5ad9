"""Byte-level pieces shared by the extension codecs.

Composite metadata, authentication and the per-stream MIME entries all start
with the same one-byte "type item": bit 7 set means the low 7 bits are a
well-known id; bit 7 clear means the low 7 bits hold a string length and that
many US-ASCII bytes follow.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from ..errors import LocalProtocolError, MetadataError

Buffer: TypeAlias = bytes | bytearray | memoryview

#: A MIME (or auth type) as it travels: a string, or a 7-bit well-known id.
TypeRef: TypeAlias = str | int

WELL_KNOWN_FLAG: Final = 0x80
MAX_ID: Final = 0x7F
#: D-1: the 7 bits carry length-1, so strings of 1..128 bytes fit.
MAX_TYPE_STRING_LENGTH: Final = 128
MAX_U24: Final = 0xFFFFFF


def encode_type_item(value: TypeRef, *, what: str) -> bytes:
    """The u8 (+ string) form of ``value``; ``what`` names it in error messages."""
    if isinstance(value, int):
        if not 0 <= value <= MAX_ID:
            raise LocalProtocolError(f"{what} id {value} is outside 0..127")
        return bytes((WELL_KNOWN_FLAG | value,))
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} {value!r} is not US-ASCII") from None
    if not 1 <= len(raw) <= MAX_TYPE_STRING_LENGTH:
        raise LocalProtocolError(f"{what} must be 1..128 bytes, got {len(raw)}")
    # D-1: rsocket-java and rsocket-py write length-1; the spec's plain length
    # would make every string we send one byte short to them.
    return bytes((len(raw) - 1,)) + raw


def read_type_item(
    view: memoryview, offset: int, *, what: str, truncated_rule: str, ascii_rule: str
) -> tuple[TypeRef, int]:
    """Read one type item at ``offset`` (which must be inside ``view``).

    Returns the raw id (int) or the string, and the offset just past the item.
    """
    first = view[offset]
    if first & WELL_KNOWN_FLAG:
        return first & MAX_ID, offset + 1
    end = offset + 1 + (first & MAX_ID) + 1  # D-1: read length+1
    if end > len(view):
        raise MetadataError(
            f"{what} string of {end - offset - 1} bytes runs past the end ({len(view) - offset - 1} left)",
            rule=truncated_rule,
        )
    try:
        text = bytes(view[offset + 1 : end]).decode("ascii")
    except UnicodeDecodeError:
        raise MetadataError(f"{what} string is not US-ASCII", rule=ascii_rule) from None
    return text, end


def decode_utf8(raw: Buffer, *, what: str, rule: str) -> str:
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(f"{what} is not valid UTF-8", rule=rule) from None
