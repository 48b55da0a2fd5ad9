"""What a correct frame decoder and deframer must produce, shared by the fuzz tests and the
long fuzz run (tests/reliability/fuzz_frames.py): canonical re-encodings, length-field
positions for mutation, and a reference u24 splitter."""

from __future__ import annotations

from aiorsocket.frames import Frame, LeaseFrame, MetadataPushFrame, ResumeFrame, SetupFrame
from aiorsocket.frames.types import FrameType

#: Flag bits the encoder writes per type; the decoder ignores all others (FL-5).  The I bit
#: survives only on EXT; METADATA_PUSH is always written with M.
DEFINED_FLAGS: dict[int, int] = {
    FrameType.SETUP: 0x1C0,
    FrameType.LEASE: 0x100,
    FrameType.KEEPALIVE: 0x080,
    FrameType.REQUEST_RESPONSE: 0x180,
    FrameType.REQUEST_FNF: 0x180,
    FrameType.REQUEST_STREAM: 0x180,
    FrameType.REQUEST_CHANNEL: 0x1C0,
    FrameType.REQUEST_N: 0x000,
    FrameType.CANCEL: 0x000,
    FrameType.PAYLOAD: 0x1E0,
    FrameType.ERROR: 0x000,
    FrameType.METADATA_PUSH: 0x100,
    FrameType.RESUME: 0x000,
    FrameType.RESUME_OK: 0x000,
    FrameType.EXT: 0x300,
}
#: Offsets of the 31/63-bit fields after the stream id whose top bit is reserved (FL-3).
RESERVED_TOP_BITS: dict[int, tuple[int, ...]] = {
    FrameType.SETUP: (10, 14),
    FrameType.LEASE: (6, 10),
    FrameType.KEEPALIVE: (6,),
    FrameType.REQUEST_STREAM: (6,),
    FrameType.REQUEST_CHANNEL: (6,),
    FrameType.REQUEST_N: (6,),
    FrameType.RESUME_OK: (6,),
    FrameType.EXT: (6,),
}


#: Fixed-size frames whose trailing bytes the decoder ignores (U-1).
FIXED_SIZES: dict[int, int] = {FrameType.REQUEST_N: 10, FrameType.CANCEL: 6, FrameType.RESUME_OK: 14}


def reserved_bit_offsets(buf: bytes | bytearray) -> tuple[int, ...]:
    """Offsets of every byte whose top bit is reserved (FL-3) in a frame of ``buf``'s type:
    the stream id, the 31/63-bit fields, and RESUME's two positions after its token."""
    if len(buf) < 6:
        return (0,) if buf else ()
    frame_type = buf[4] >> 2
    offsets = (0, *RESERVED_TOP_BITS.get(frame_type, ()))
    if frame_type == FrameType.RESUME and len(buf) >= 12:
        token_end = 12 + int.from_bytes(buf[10:12], "big")
        offsets += (token_end, token_end + 8)
    return tuple(o for o in offsets if o < len(buf))


def canonical_form(buf: bytes) -> bytes:
    """What encode(decode(buf)) must be, for a ``buf`` that decodes: the same bytes with the
    reserved top bits cleared (FL-3), undefined flags cleared (FL-5) and the trailing bytes of
    fixed-size frames dropped (U-1)."""
    out = bytearray(buf)
    frame_type = out[4] >> 2
    flags = ((out[4] << 8) | out[5]) & 0x3FF & DEFINED_FLAGS[frame_type]
    if frame_type == FrameType.METADATA_PUSH:
        flags |= 0x100
    word = (frame_type << 10) | flags
    out[4], out[5] = word >> 8, word & 0xFF
    for offset in reserved_bit_offsets(out):
        out[offset] &= 0x7F
    if frame_type == FrameType.RESUME:
        del out[12 + int.from_bytes(out[10:12], "big") + 16 :]
    fixed = FIXED_SIZES.get(frame_type)
    if frame_type == FrameType.LEASE and not flags & 0x100:
        fixed = 14
    if fixed is not None:
        del out[fixed:]
    return bytes(out)


def length_fields(frame: Frame, wire: bytes) -> list[tuple[int, int]]:
    """(offset, width) of every length field inside ``wire`` (metadata u24, token u16, MIME u8)."""
    fields: list[tuple[int, int]] = []
    if isinstance(frame, SetupFrame):
        pos = 18
        if frame.resume_token is not None:
            fields.append((pos, 2))
            pos += 2 + len(frame.resume_token)
        fields.append((pos, 1))
        pos += 1 + len(frame.metadata_mime)
        fields.append((pos, 1))
    elif isinstance(frame, ResumeFrame):
        fields.append((10, 2))
    metadata = getattr(frame, "metadata", None)
    if metadata is not None and not isinstance(frame, LeaseFrame | MetadataPushFrame):
        data: bytes = getattr(frame, "data", b"")
        fields.append((len(wire) - len(data) - len(metadata) - 3, 3))
    return fields


def reference_split(stream: bytes, limit: int) -> tuple[list[bytes], int, bool]:
    """The frames a u24 deframer must yield, the bytes left over, and whether FL-1 fires."""
    frames: list[bytes] = []
    offset = 0
    while len(stream) - offset >= 3:
        length = int.from_bytes(stream[offset : offset + 3], "big")
        if length > limit:
            return frames, len(stream) - offset, True
        end = offset + 3 + length
        if end > len(stream):
            break
        frames.append(stream[offset + 3 : end])
        offset = end
    return frames, len(stream) - offset, False
