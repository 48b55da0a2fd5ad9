"""Encode frame values to bytes and decode bytes to frame values.

Decoding policy, one rule per choice (each pinned by a test in tests/unit/frames):

* FL-3: the reserved top bit of the stream id and of every 31/63-bit field is
  **masked off** on receipt, as rsocket-java does; we always send it as 0.
* FL-5: flag bits a frame type does not define are ignored.
* FL-2 / §1.2: a frame too short for its fixed fields, or whose metadata length
  overruns the frame, is a connection-level fault (CONNECTION_ERROR; for SETUP,
  INVALID_SETUP), dropped silently instead when the frame has the I flag.
* IG-1 / IG-2: an unknown frame type raises :class:`UnknownFrameTypeError`,
  flagged ``ignorable`` when the I flag is set.
* Frames that have a fixed size (REQUEST_N, CANCEL, RESUME_OK) accept trailing
  bytes and ignore them (U-1): rsocket-java reads them by offset too.
* Stream-id placement: SETUP/RESUME off stream 0 → INVALID_SETUP (SU-2);
  LEASE, KEEPALIVE, RESUME_OK off stream 0 → CONNECTION_ERROR; a request on
  stream 0 → CONNECTION_ERROR (ID-1); METADATA_PUSH off stream 0, and
  CANCEL / PAYLOAD / REQUEST_N on stream 0, are dropped (MP-3, ID-5, U-1).
* Field values: request-n 0 is a stream-level INVALID (RN-1, D-17); keepalive
  interval or max lifetime 0 is INVALID_SETUP (SU-3); LEASE and KEEPALIVE
  zeros are accepted (D-5, D-6); error codes are unsigned 32-bit (D-3).
* METADATA_PUSH without the M flag is accepted (rsocket-js 0.0.27 sends it so);
  we always send it with M.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final, TypeAlias

from ..errors import (
    ErrorCode,
    FaultLevel,
    FrameError,
    LocalProtocolError,
    UnknownFrameTypeError,
)
from .model import (
    CancelFrame,
    ErrorFrame,
    ExtFrame,
    Frame,
    KeepaliveFrame,
    LeaseFrame,
    MetadataPushFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    ResumeFrame,
    ResumeOkFrame,
    SetupFrame,
)
from .types import (
    FLAG_COMPLETE,
    FLAG_FOLLOWS,
    FLAG_IGNORE,
    FLAG_LEASE,
    FLAG_METADATA,
    FLAG_NEXT,
    FLAG_RESPOND,
    FLAG_RESUME_ENABLE,
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_MIME_LENGTH,
    MAX_RESUME_TOKEN_LENGTH,
    MAX_U24,
    MAX_U31,
    MAX_U63,
    FrameType,
)

Buffer: TypeAlias = bytes | bytearray | memoryview

_HEADER: Final = struct.Struct(">IH")
_HEADER_U32: Final = struct.Struct(">IHI")
_HEADER_2U32: Final = struct.Struct(">IH2I")
_HEADER_U64: Final = struct.Struct(">IHQ")
_U24: Final = struct.Struct(">BH")
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_SETUP_FIXED: Final = struct.Struct(">IHHHII")
_RESUME_FIXED: Final = struct.Struct(">IHHHH")
_TWO_U64: Final = struct.Struct(">QQ")

_U31_MASK: Final = MAX_U31
_REQUEST_N_WORD: Final = FrameType.REQUEST_N << 10
_U63_MASK: Final = MAX_U63
_U32_MAX: Final = 0xFFFFFFFF

# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


def _word(frame_type: int, flags: int) -> int:
    return (frame_type << 10) | flags


def _check_stream_id(stream_id: int) -> None:
    if not 0 < stream_id <= MAX_U31:
        raise LocalProtocolError(f"stream id {stream_id} is outside 1..2^31-1 (ID-1)")


def _check_u31(name: str, value: int, *, minimum: int = 0) -> None:
    if not minimum <= value <= MAX_U31:
        raise LocalProtocolError(f"{name} {value} is outside {minimum}..2^31-1")


def _check_u63(name: str, value: int) -> None:
    if not 0 <= value <= MAX_U63:
        raise LocalProtocolError(f"{name} {value} is outside 0..2^63-1")


def _u24(value: int) -> bytes:
    return value.to_bytes(3, "big")


def _metadata_and_data(head: bytes, metadata: bytes | None, data: bytes) -> bytes:
    if metadata is None:
        return head + data
    length = len(metadata)
    if length > MAX_U24:
        raise LocalProtocolError(f"metadata of {length} bytes does not fit a u24 length (FL-1)")
    return b"".join((head, length.to_bytes(3, "big"), metadata, data))


def encode_message(
    frame_type: int, stream_id: int, data: bytes, metadata: bytes | None = None, flags: int = 0
) -> bytes:
    """A REQUEST_RESPONSE, REQUEST_FNF or PAYLOAD frame straight from its fields.

    The per-message hot path: no frame object and no checks.  ``flags`` holds the F, C and
    N bits (M follows from ``metadata``); the caller vouches for a stream id in 1..2^31-1
    and for a frame within the 16 MiB limit (anything larger must be fragmented first).
    """
    if metadata is None:
        return _HEADER.pack(stream_id, (frame_type << 10) | flags) + data
    return b"".join(
        (
            _HEADER.pack(stream_id, (frame_type << 10) | flags | FLAG_METADATA),
            len(metadata).to_bytes(3, "big"),
            metadata,
            data,
        )
    )


def encode_request_n(stream_id: int, n: int) -> bytes:
    """A REQUEST_N frame; the caller vouches for a stream id and ``n`` in 1..2^31-1."""
    return _HEADER_U32.pack(stream_id, _REQUEST_N_WORD, n)


def _ascii_mime(name: str, value: str) -> bytes:
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{name} {value!r} is not US-ASCII (SU-5)") from None
    if len(raw) > MAX_MIME_LENGTH:
        raise LocalProtocolError(f"{name} is {len(raw)} bytes; SETUP allows at most 255 (SU-5)")
    return bytes((len(raw),)) + raw


def _encode_setup(f: SetupFrame) -> bytes:
    _check_u31("keepalive interval", f.keepalive_interval, minimum=1)
    _check_u31("max lifetime", f.max_lifetime, minimum=1)
    if not (0 <= f.major <= 0xFFFF and 0 <= f.minor <= 0xFFFF):
        raise LocalProtocolError(f"version {f.major}.{f.minor} does not fit two u16")
    flags = 0
    if f.metadata is not None:
        flags |= FLAG_METADATA
    if f.lease:
        flags |= FLAG_LEASE
    token = b""
    if f.resume_token is not None:
        flags |= FLAG_RESUME_ENABLE
        if len(f.resume_token) > MAX_RESUME_TOKEN_LENGTH:
            raise LocalProtocolError("resume token is longer than 65535 bytes (SU-6)")
        token = _U16.pack(len(f.resume_token)) + f.resume_token
    head = b"".join(
        (
            _SETUP_FIXED.pack(
                0,
                _word(FrameType.SETUP, flags),
                f.major,
                f.minor,
                f.keepalive_interval,
                f.max_lifetime,
            ),
            token,
            _ascii_mime("metadata MIME", f.metadata_mime),
            _ascii_mime("data MIME", f.data_mime),
        )
    )
    return _metadata_and_data(head, f.metadata, f.data)


def _encode_lease(f: LeaseFrame) -> bytes:
    _check_u31("lease TTL", f.ttl)
    _check_u31("lease number of requests", f.number_of_requests)
    flags = 0 if f.metadata is None else FLAG_METADATA
    head = _HEADER_2U32.pack(0, _word(FrameType.LEASE, flags), f.ttl, f.number_of_requests)
    # LEASE metadata runs to the end of the frame, with no length field (§1.2).
    return head if f.metadata is None else head + f.metadata


def _encode_keepalive(f: KeepaliveFrame) -> bytes:
    _check_u63("last received position", f.last_received_position)
    flags = FLAG_RESPOND if f.respond else 0
    return _HEADER_U64.pack(0, _word(FrameType.KEEPALIVE, flags), f.last_received_position) + f.data


def _check_metadata(metadata: bytes | None) -> None:
    if metadata is not None and len(metadata) > MAX_U24:
        raise LocalProtocolError(f"metadata of {len(metadata)} bytes does not fit a u24 length (FL-1)")


def _encode_request_response(f: RequestResponseFrame) -> bytes:
    _check_stream_id(f.stream_id)
    _check_metadata(f.metadata)
    return encode_message(
        FrameType.REQUEST_RESPONSE, f.stream_id, f.data, f.metadata, FLAG_FOLLOWS * f.follows
    )


def _encode_request_fnf(f: RequestFnfFrame) -> bytes:
    _check_stream_id(f.stream_id)
    _check_metadata(f.metadata)
    return encode_message(FrameType.REQUEST_FNF, f.stream_id, f.data, f.metadata, FLAG_FOLLOWS * f.follows)


def _encode_request_stream(f: RequestStreamFrame) -> bytes:
    _check_stream_id(f.stream_id)
    _check_u31("initial request-n", f.initial_request_n, minimum=1)
    flags = 0 if f.metadata is None else FLAG_METADATA
    if f.follows:
        flags |= FLAG_FOLLOWS
    head = _HEADER_U32.pack(f.stream_id, _word(FrameType.REQUEST_STREAM, flags), f.initial_request_n)
    return _metadata_and_data(head, f.metadata, f.data)


def _encode_request_channel(f: RequestChannelFrame) -> bytes:
    _check_stream_id(f.stream_id)
    _check_u31("initial request-n", f.initial_request_n, minimum=1)
    flags = 0 if f.metadata is None else FLAG_METADATA
    if f.follows:
        flags |= FLAG_FOLLOWS
    if f.complete:
        flags |= FLAG_COMPLETE
    head = _HEADER_U32.pack(f.stream_id, _word(FrameType.REQUEST_CHANNEL, flags), f.initial_request_n)
    return _metadata_and_data(head, f.metadata, f.data)


def _encode_request_n(f: RequestNFrame) -> bytes:
    _check_stream_id(f.stream_id)
    _check_u31("request-n", f.request_n, minimum=1)
    return encode_request_n(f.stream_id, f.request_n)


def _encode_cancel(f: CancelFrame) -> bytes:
    _check_stream_id(f.stream_id)
    return _HEADER.pack(f.stream_id, _word(FrameType.CANCEL, 0))


def _encode_payload(f: PayloadFrame) -> bytes:
    _check_stream_id(f.stream_id)
    _check_metadata(f.metadata)
    flags = FLAG_FOLLOWS * f.follows | FLAG_COMPLETE * f.complete | FLAG_NEXT * f.next
    return encode_message(FrameType.PAYLOAD, f.stream_id, f.data, f.metadata, flags)


def _encode_error(f: ErrorFrame) -> bytes:
    if not 0 <= f.stream_id <= MAX_U31:
        raise LocalProtocolError(f"stream id {f.stream_id} is outside 0..2^31-1")
    if not 0 <= f.error_code <= _U32_MAX:
        raise LocalProtocolError(f"error code {f.error_code} does not fit an unsigned 32-bit field")
    return _HEADER_U32.pack(f.stream_id, _word(FrameType.ERROR, 0), f.error_code) + f.data


def _encode_metadata_push(f: MetadataPushFrame) -> bytes:
    return _HEADER.pack(0, _word(FrameType.METADATA_PUSH, FLAG_METADATA)) + f.metadata


def _encode_resume(f: ResumeFrame) -> bytes:
    if len(f.resume_token) > MAX_RESUME_TOKEN_LENGTH:
        raise LocalProtocolError("resume token is longer than 65535 bytes")
    _check_u63("last received server position", f.last_received_server_position)
    _check_u63("first available client position", f.first_available_client_position)
    return b"".join(
        (
            _RESUME_FIXED.pack(0, _word(FrameType.RESUME, 0), f.major, f.minor, len(f.resume_token)),
            f.resume_token,
            _TWO_U64.pack(f.last_received_server_position, f.first_available_client_position),
        )
    )


def _encode_resume_ok(f: ResumeOkFrame) -> bytes:
    _check_u63("last received client position", f.last_received_client_position)
    return _HEADER_U64.pack(0, _word(FrameType.RESUME_OK, 0), f.last_received_client_position)


def _encode_ext(f: ExtFrame) -> bytes:
    if not 0 <= f.stream_id <= MAX_U31:
        raise LocalProtocolError(f"stream id {f.stream_id} is outside 0..2^31-1")
    _check_u31("extended type", f.extended_type, minimum=1)
    flags = 0 if f.metadata is None else FLAG_METADATA
    if f.ignore:
        flags |= FLAG_IGNORE
    head = _HEADER_U32.pack(f.stream_id, _word(FrameType.EXT, flags), f.extended_type)
    return _metadata_and_data(head, f.metadata, f.data)


_ENCODERS: Final[dict[type, Callable[..., bytes]]] = {
    SetupFrame: _encode_setup,
    LeaseFrame: _encode_lease,
    KeepaliveFrame: _encode_keepalive,
    RequestResponseFrame: _encode_request_response,
    RequestFnfFrame: _encode_request_fnf,
    RequestStreamFrame: _encode_request_stream,
    RequestChannelFrame: _encode_request_channel,
    RequestNFrame: _encode_request_n,
    CancelFrame: _encode_cancel,
    PayloadFrame: _encode_payload,
    ErrorFrame: _encode_error,
    MetadataPushFrame: _encode_metadata_push,
    ResumeFrame: _encode_resume,
    ResumeOkFrame: _encode_resume_ok,
    ExtFrame: _encode_ext,
}


def encode_frame(frame: Frame) -> bytes:
    """The frame's bytes, without any transport length prefix.

    Raises :class:`LocalProtocolError` for values the wire cannot carry,
    including a frame over 16,777,215 bytes (FL-1: fragment it instead).
    """
    try:
        encoder = _ENCODERS[type(frame)]
    except KeyError:
        raise TypeError(f"not a frame: {frame!r}") from None
    encoded = encoder(frame)
    if len(encoded) > MAX_FRAME_SIZE:
        raise LocalProtocolError(
            f"{frame.frame_type.name} frame of {len(encoded)} bytes is over the "
            f"{MAX_FRAME_SIZE}-byte limit; fragment it (FL-1)"
        )
    return encoded


def length_prefix(frame_length: int) -> bytes:
    """The u24 prefix that byte-stream transports put before each frame (§4)."""
    if not 0 <= frame_length <= MAX_U24:
        raise LocalProtocolError(f"frame of {frame_length} bytes cannot take a u24 length prefix")
    return _u24(frame_length)


def encode_frame_with_length(frame: Frame) -> bytes:
    """The frame as a byte-stream transport (TCP, Unix) sends it: u24 length, then the frame."""
    encoded = encode_frame(frame)
    return _u24(len(encoded)) + encoded


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


def _malformed(
    message: str,
    frame_type: int,
    stream_id: int,
    flags: int,
    *,
    rule: str = "FL-2",
    error_code: ErrorCode = ErrorCode.CONNECTION_ERROR,
) -> FrameError:
    return FrameError(
        message,
        rule=rule,
        level=FaultLevel.CONNECTION,
        error_code=error_code,
        stream_id=stream_id,
        frame_type=frame_type,
        ignorable=bool(flags & FLAG_IGNORE),
    )


def _too_short(frame_type: int, stream_id: int, flags: int, size: int, need: int) -> FrameError:
    name = FrameType(frame_type).name
    code = ErrorCode.INVALID_SETUP if frame_type == FrameType.SETUP else ErrorCode.CONNECTION_ERROR
    return _malformed(
        f"{name} frame of {size} bytes is shorter than its {need}-byte minimum",
        frame_type,
        stream_id,
        flags,
        error_code=code,
    )


def _dropped(message: str, frame_type: int, stream_id: int, rule: str) -> FrameError:
    return FrameError(
        message,
        rule=rule,
        level=FaultLevel.CONNECTION,
        error_code=ErrorCode.CONNECTION_ERROR,
        stream_id=stream_id,
        frame_type=frame_type,
        ignorable=True,
    )


def _on_stream_zero(frame_type: int, stream_id: int, flags: int, error_code: ErrorCode, rule: str) -> None:
    if stream_id != 0:
        name = FrameType(frame_type).name
        raise _malformed(
            f"{name} frame on stream {stream_id}; it belongs on stream 0",
            frame_type,
            stream_id,
            flags,
            rule=rule,
            error_code=error_code,
        )


def _request_stream_id(frame_type: int, stream_id: int, flags: int) -> None:
    if stream_id == 0:
        raise _malformed(
            f"{FrameType(frame_type).name} on stream 0; requests need a stream id > 0",
            frame_type,
            0,
            flags,
            rule="ID-1",
        )


def split_metadata(
    buf: Buffer, offset: int, size: int, frame_type: int, stream_id: int, flags: int
) -> tuple[bytes | None, bytes]:
    """Metadata (None when M is clear) and data after the fixed fields (§1.2).

    Public for the connection's fast path, which decodes the hottest frames field by
    field; raises the same :class:`FrameError` as :func:`decode_frame` would.
    """
    if not flags & FLAG_METADATA:
        return None, bytes(buf[offset:])
    if size - offset < 3:
        raise _too_short(frame_type, stream_id, flags, size, offset + 3)
    high, low = _U24.unpack_from(buf, offset)
    length = (high << 16) | low
    start = offset + 3
    end = start + length
    if end > size:
        raise _malformed(
            f"{FrameType(frame_type).name} metadata length {length} overruns the frame "
            f"({size - start} bytes left)",
            frame_type,
            stream_id,
            flags,
            rule="FL-2",
            error_code=ErrorCode.INVALID_SETUP
            if frame_type == FrameType.SETUP
            else ErrorCode.CONNECTION_ERROR,
        )
    return bytes(buf[start:end]), bytes(buf[end:])


def _read_mime(
    buf: Buffer, offset: int, size: int, stream_id: int, flags: int, which: str
) -> tuple[str, int]:
    if offset >= size:
        raise _too_short(FrameType.SETUP, stream_id, flags, size, offset + 1)
    length = buf[offset]
    start = offset + 1
    end = start + length
    if end > size:
        raise _malformed(
            f"SETUP {which} MIME length {length} overruns the frame",
            FrameType.SETUP,
            stream_id,
            flags,
            error_code=ErrorCode.INVALID_SETUP,
        )
    try:
        mime = bytes(buf[start:end]).decode("ascii")
    except UnicodeDecodeError:
        raise _malformed(
            f"SETUP {which} MIME is not US-ASCII",
            FrameType.SETUP,
            stream_id,
            flags,
            rule="SU-5",
            error_code=ErrorCode.INVALID_SETUP,
        ) from None
    return mime, end


def _decode_setup(buf: Buffer, stream_id: int, flags: int, size: int) -> SetupFrame:
    _on_stream_zero(FrameType.SETUP, stream_id, flags, ErrorCode.INVALID_SETUP, "SU-2")
    if size < _SETUP_FIXED.size:
        raise _too_short(FrameType.SETUP, stream_id, flags, size, _SETUP_FIXED.size)
    _, _, major, minor, keepalive, lifetime = _SETUP_FIXED.unpack_from(buf, 0)
    keepalive &= _U31_MASK
    lifetime &= _U31_MASK
    if keepalive == 0 or lifetime == 0:
        raise _malformed(
            f"SETUP keepalive interval ({keepalive} ms) and max lifetime ({lifetime} ms) must be > 0",
            FrameType.SETUP,
            stream_id,
            flags,
            rule="SU-3",
            error_code=ErrorCode.INVALID_SETUP,
        )
    offset = _SETUP_FIXED.size
    token: bytes | None = None
    if flags & FLAG_RESUME_ENABLE:
        if size < offset + 2:
            raise _too_short(FrameType.SETUP, stream_id, flags, size, offset + 2)
        (token_length,) = _U16.unpack_from(buf, offset)
        offset += 2
        if offset + token_length > size:
            raise _malformed(
                f"SETUP resume token length {token_length} overruns the frame",
                FrameType.SETUP,
                stream_id,
                flags,
                rule="SU-6",
                error_code=ErrorCode.INVALID_SETUP,
            )
        token = bytes(buf[offset : offset + token_length])
        offset += token_length
    metadata_mime, offset = _read_mime(buf, offset, size, stream_id, flags, "metadata")
    data_mime, offset = _read_mime(buf, offset, size, stream_id, flags, "data")
    metadata, data = split_metadata(buf, offset, size, FrameType.SETUP, stream_id, flags)
    return SetupFrame(
        keepalive,
        lifetime,
        metadata_mime,
        data_mime,
        data,
        metadata,
        token,
        bool(flags & FLAG_LEASE),
        major,
        minor,
    )


def _decode_lease(buf: Buffer, stream_id: int, flags: int, size: int) -> LeaseFrame:
    _on_stream_zero(FrameType.LEASE, stream_id, flags, ErrorCode.CONNECTION_ERROR, "LE-1")
    if size < _HEADER_2U32.size:
        raise _too_short(FrameType.LEASE, stream_id, flags, size, _HEADER_2U32.size)
    _, _, ttl, count = _HEADER_2U32.unpack_from(buf, 0)
    metadata = bytes(buf[_HEADER_2U32.size :]) if flags & FLAG_METADATA else None
    return LeaseFrame(ttl & _U31_MASK, count & _U31_MASK, metadata)


def _decode_keepalive(buf: Buffer, stream_id: int, flags: int, size: int) -> KeepaliveFrame:
    _on_stream_zero(FrameType.KEEPALIVE, stream_id, flags, ErrorCode.CONNECTION_ERROR, "KA-1")
    if size < _HEADER_U64.size:
        raise _too_short(FrameType.KEEPALIVE, stream_id, flags, size, _HEADER_U64.size)
    (_, _, position) = _HEADER_U64.unpack_from(buf, 0)
    return KeepaliveFrame(position & _U63_MASK, bytes(buf[_HEADER_U64.size :]), bool(flags & FLAG_RESPOND))


def _decode_request_response(buf: Buffer, stream_id: int, flags: int, size: int) -> RequestResponseFrame:
    _request_stream_id(FrameType.REQUEST_RESPONSE, stream_id, flags)
    metadata, data = split_metadata(buf, HEADER_SIZE, size, FrameType.REQUEST_RESPONSE, stream_id, flags)
    return RequestResponseFrame(stream_id, data, metadata, bool(flags & FLAG_FOLLOWS))


def _decode_request_fnf(buf: Buffer, stream_id: int, flags: int, size: int) -> RequestFnfFrame:
    _request_stream_id(FrameType.REQUEST_FNF, stream_id, flags)
    metadata, data = split_metadata(buf, HEADER_SIZE, size, FrameType.REQUEST_FNF, stream_id, flags)
    return RequestFnfFrame(stream_id, data, metadata, bool(flags & FLAG_FOLLOWS))


def _initial_request_n(buf: Buffer, frame_type: int, stream_id: int, flags: int, size: int) -> int:
    _request_stream_id(frame_type, stream_id, flags)
    if size < _HEADER_U32.size:
        raise _too_short(frame_type, stream_id, flags, size, _HEADER_U32.size)
    (_, _, n) = _HEADER_U32.unpack_from(buf, 0)
    n &= _U31_MASK
    if n == 0:
        raise FrameError(
            f"{FrameType(frame_type).name} with an initial request-n of 0",
            rule="RN-1",
            level=FaultLevel.STREAM,
            error_code=ErrorCode.INVALID,
            stream_id=stream_id,
            frame_type=frame_type,
            ignorable=bool(flags & FLAG_IGNORE),
        )
    return int(n)


def _decode_request_stream(buf: Buffer, stream_id: int, flags: int, size: int) -> RequestStreamFrame:
    n = _initial_request_n(buf, FrameType.REQUEST_STREAM, stream_id, flags, size)
    metadata, data = split_metadata(buf, _HEADER_U32.size, size, FrameType.REQUEST_STREAM, stream_id, flags)
    return RequestStreamFrame(stream_id, n, data, metadata, bool(flags & FLAG_FOLLOWS))


def _decode_request_channel(buf: Buffer, stream_id: int, flags: int, size: int) -> RequestChannelFrame:
    n = _initial_request_n(buf, FrameType.REQUEST_CHANNEL, stream_id, flags, size)
    metadata, data = split_metadata(buf, _HEADER_U32.size, size, FrameType.REQUEST_CHANNEL, stream_id, flags)
    return RequestChannelFrame(
        stream_id,
        n,
        data,
        metadata,
        bool(flags & FLAG_FOLLOWS),
        bool(flags & FLAG_COMPLETE),
    )


def _decode_request_n(buf: Buffer, stream_id: int, flags: int, size: int) -> RequestNFrame:
    if stream_id == 0:
        raise _dropped("REQUEST_N on stream 0 names no stream", FrameType.REQUEST_N, 0, "U-1")
    if size < _HEADER_U32.size:
        raise _too_short(FrameType.REQUEST_N, stream_id, flags, size, _HEADER_U32.size)
    (_, _, n) = _HEADER_U32.unpack_from(buf, 0)
    n &= _U31_MASK
    if n == 0:
        raise FrameError(
            "REQUEST_N of 0",
            rule="RN-1",
            level=FaultLevel.STREAM,
            error_code=ErrorCode.INVALID,
            stream_id=stream_id,
            frame_type=FrameType.REQUEST_N,
            ignorable=bool(flags & FLAG_IGNORE),
        )
    return RequestNFrame(stream_id, n)


def _decode_cancel(buf: Buffer, stream_id: int, flags: int, size: int) -> CancelFrame:
    if stream_id == 0:
        raise _dropped("CANCEL on stream 0 names no stream", FrameType.CANCEL, 0, "ID-5")
    return CancelFrame(stream_id)


def _decode_payload(buf: Buffer, stream_id: int, flags: int, size: int) -> PayloadFrame:
    if stream_id == 0:
        raise _dropped("PAYLOAD on stream 0 names no stream", FrameType.PAYLOAD, 0, "ID-5")
    metadata, data = split_metadata(buf, HEADER_SIZE, size, FrameType.PAYLOAD, stream_id, flags)
    return PayloadFrame(
        stream_id,
        data,
        metadata,
        bool(flags & FLAG_FOLLOWS),
        bool(flags & FLAG_COMPLETE),
        bool(flags & FLAG_NEXT),
    )


def _decode_error(buf: Buffer, stream_id: int, flags: int, size: int) -> ErrorFrame:
    if size < _HEADER_U32.size:
        raise _too_short(FrameType.ERROR, stream_id, flags, size, _HEADER_U32.size)
    (_, _, code) = _HEADER_U32.unpack_from(buf, 0)
    return ErrorFrame(stream_id, code, bytes(buf[_HEADER_U32.size :]))


def _decode_metadata_push(buf: Buffer, stream_id: int, flags: int, size: int) -> MetadataPushFrame:
    if stream_id != 0:
        raise _dropped(
            f"METADATA_PUSH on stream {stream_id} must be ignored",
            FrameType.METADATA_PUSH,
            stream_id,
            "MP-3",
        )
    return MetadataPushFrame(bytes(buf[HEADER_SIZE:]))


def _decode_resume(buf: Buffer, stream_id: int, flags: int, size: int) -> ResumeFrame:
    _on_stream_zero(FrameType.RESUME, stream_id, flags, ErrorCode.INVALID_SETUP, "SU-2")
    if size < _RESUME_FIXED.size:
        raise _too_short(FrameType.RESUME, stream_id, flags, size, _RESUME_FIXED.size + 16)
    _, _, major, minor, token_length = _RESUME_FIXED.unpack_from(buf, 0)
    token_end = _RESUME_FIXED.size + token_length
    if size < token_end + _TWO_U64.size:
        raise _too_short(FrameType.RESUME, stream_id, flags, size, token_end + _TWO_U64.size)
    server_position, client_position = _TWO_U64.unpack_from(buf, token_end)
    return ResumeFrame(
        bytes(buf[_RESUME_FIXED.size : token_end]),
        server_position & _U63_MASK,
        client_position & _U63_MASK,
        major,
        minor,
    )


def _decode_resume_ok(buf: Buffer, stream_id: int, flags: int, size: int) -> ResumeOkFrame:
    _on_stream_zero(FrameType.RESUME_OK, stream_id, flags, ErrorCode.CONNECTION_ERROR, "RE-4")
    if size < _HEADER_U64.size:
        raise _too_short(FrameType.RESUME_OK, stream_id, flags, size, _HEADER_U64.size)
    (_, _, position) = _HEADER_U64.unpack_from(buf, 0)
    return ResumeOkFrame(position & _U63_MASK)


def _decode_ext(buf: Buffer, stream_id: int, flags: int, size: int) -> ExtFrame:
    if size < _HEADER_U32.size:
        raise _too_short(FrameType.EXT, stream_id, flags, size, _HEADER_U32.size)
    (_, _, extended_type) = _HEADER_U32.unpack_from(buf, 0)
    extended_type &= _U31_MASK
    if extended_type == 0:
        raise _malformed("EXT frame with extended type 0", FrameType.EXT, stream_id, flags, rule="IG-3")
    metadata, data = split_metadata(buf, _HEADER_U32.size, size, FrameType.EXT, stream_id, flags)
    return ExtFrame(stream_id, extended_type, data, metadata, bool(flags & FLAG_IGNORE))


_Decoder: TypeAlias = Callable[[Buffer, int, int, int], Frame]

# Indexed by the 6-bit frame type: a list lookup is the cheapest dispatch.
_DECODERS: Final[list[_Decoder | None]] = [None] * 64
for _type, _decoder in (
    (FrameType.SETUP, _decode_setup),
    (FrameType.LEASE, _decode_lease),
    (FrameType.KEEPALIVE, _decode_keepalive),
    (FrameType.REQUEST_RESPONSE, _decode_request_response),
    (FrameType.REQUEST_FNF, _decode_request_fnf),
    (FrameType.REQUEST_STREAM, _decode_request_stream),
    (FrameType.REQUEST_CHANNEL, _decode_request_channel),
    (FrameType.REQUEST_N, _decode_request_n),
    (FrameType.CANCEL, _decode_cancel),
    (FrameType.PAYLOAD, _decode_payload),
    (FrameType.ERROR, _decode_error),
    (FrameType.METADATA_PUSH, _decode_metadata_push),
    (FrameType.RESUME, _decode_resume),
    (FrameType.RESUME_OK, _decode_resume_ok),
    (FrameType.EXT, _decode_ext),
):
    _DECODERS[_type] = _decoder
del _type, _decoder


def decode_frame(buf: Buffer) -> Frame:
    """Decode one whole frame (no length prefix).

    Raises a :class:`FrameError` (or a subclass) that names the broken rule, the
    fault level, the ERROR code to answer with and whether to drop silently.
    Accepts bytes, bytearray or memoryview; the returned frame owns its bytes.
    """
    size = len(buf)
    if size < HEADER_SIZE:
        raise FrameError(
            f"frame of {size} bytes is shorter than the 6-byte header",
            rule="FL-2",
            level=FaultLevel.CONNECTION,
            error_code=ErrorCode.CONNECTION_ERROR,
        )
    stream_id, word = _HEADER.unpack_from(buf, 0)
    stream_id &= _U31_MASK
    frame_type: int = word >> 10
    flags: int = word & 0x3FF
    decoder = _DECODERS[frame_type]
    if decoder is None:
        ignorable = bool(flags & FLAG_IGNORE)
        raise UnknownFrameTypeError(
            f"unknown frame type {frame_type:#04x}"
            + (" with the I flag: dropped" if ignorable else " without the I flag"),
            rule="IG-1" if ignorable else "IG-2",
            level=FaultLevel.CONNECTION,
            error_code=ErrorCode.CONNECTION_ERROR,
            stream_id=stream_id,
            frame_type=frame_type,
            ignorable=ignorable,
        )
    return decoder(buf, stream_id, flags, size)
