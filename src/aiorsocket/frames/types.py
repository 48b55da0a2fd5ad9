"""Frame types, flag bits and numeric limits of the RSocket wire format (checklist §1)."""

from __future__ import annotations

from enum import IntEnum


class FrameType(IntEnum):
    RESERVED = 0x00
    SETUP = 0x01
    LEASE = 0x02
    KEEPALIVE = 0x03
    REQUEST_RESPONSE = 0x04
    REQUEST_FNF = 0x05
    REQUEST_STREAM = 0x06
    REQUEST_CHANNEL = 0x07
    REQUEST_N = 0x08
    CANCEL = 0x09
    PAYLOAD = 0x0A
    ERROR = 0x0B
    METADATA_PUSH = 0x0C
    RESUME = 0x0D
    RESUME_OK = 0x0E
    EXT = 0x3F


# Flag bits inside the 10-bit flags field of the header word.
FLAG_IGNORE = 0x200
FLAG_METADATA = 0x100
FLAG_FOLLOWS = 0x080
FLAG_RESUME_ENABLE = 0x080  # SETUP
FLAG_RESPOND = 0x080  # KEEPALIVE
FLAG_COMPLETE = 0x040
FLAG_LEASE = 0x040  # SETUP
FLAG_NEXT = 0x020

HEADER_SIZE = 6
#: Largest frame any transport may carry (FL-1), and the u24 length prefix limit.
MAX_FRAME_SIZE = 0xFFFFFF
MAX_U24 = 0xFFFFFF
#: Largest value of a 31-bit field (stream ids, request-n, keepalive, lease).
MAX_U31 = 0x7FFFFFFF
#: Largest value of a 63-bit field (positions).
MAX_U63 = 0x7FFFFFFFFFFFFFFF
#: 2^31-1 on the wire means "unbounded demand" to rsocket-java and rsocket-js (D-2).
REQUEST_N_UNBOUNDED = MAX_U31
MAX_STREAM_ID = MAX_U31
MAX_MIME_LENGTH = 0xFF
MAX_RESUME_TOKEN_LENGTH = 0xFFFF

#: The only protocol version live peers speak (checklist §0).
DEFAULT_VERSION = (1, 0)

#: Frame types that may carry the F flag and be fragmented (FR-1).
FRAGMENTABLE_TYPES = frozenset(
    {
        FrameType.REQUEST_RESPONSE,
        FrameType.REQUEST_FNF,
        FrameType.REQUEST_STREAM,
        FrameType.REQUEST_CHANNEL,
        FrameType.PAYLOAD,
    }
)
#: Frame types that open a stream.
REQUEST_TYPES = frozenset(
    {
        FrameType.REQUEST_RESPONSE,
        FrameType.REQUEST_FNF,
        FrameType.REQUEST_STREAM,
        FrameType.REQUEST_CHANNEL,
    }
)
