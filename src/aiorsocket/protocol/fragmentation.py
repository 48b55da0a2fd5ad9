"""Splitting large messages into fragments and joining them again (checklist §3.10).

Sending (FR-2, FR-3, FR-5, FR-6): the first fragment is the original frame type
with F set (it carries the fixed fields such as the initial request-n); every
later fragment is a PAYLOAD with N set, as rsocket-java, rsocket-js and
rsocket-py send them.  Metadata goes out before data; a fragment holding any
metadata has M set and its own length; C rides on the final fragment only.

Receiving (FR-4, FR-6, FR-9, D-13): continuations are recognised by F alone and
may carry N or not; pieces are joined in order; the running size is checked
against the configured maximum before anything is kept.
"""

from __future__ import annotations

from ..frames import (
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestResponseFrame,
    RequestStreamFrame,
)
from ..frames.types import HEADER_SIZE

MessageFrame = (
    RequestResponseFrame | RequestFnfFrame | RequestStreamFrame | RequestChannelFrame | PayloadFrame
)

_METADATA_LENGTH = 3


def _fixed_size(frame: MessageFrame) -> int:
    if isinstance(frame, RequestStreamFrame | RequestChannelFrame):
        return HEADER_SIZE + 4
    return HEADER_SIZE


def encoded_size(frame: MessageFrame) -> int:
    """Bytes ``frame`` takes on the wire, without building it."""
    size = _fixed_size(frame) + len(frame.data)
    if frame.metadata is not None:
        size += _METADATA_LENGTH + len(frame.metadata)
    return size


def fragment(frame: MessageFrame, fragment_size: int) -> list[MessageFrame]:
    """``frame`` cut into frames of at most ``fragment_size`` bytes each.

    A frame that already fits comes back alone and unchanged.
    """
    if encoded_size(frame) <= fragment_size:
        return [frame]
    metadata = frame.metadata
    data = frame.data
    metadata_left = 0 if metadata is None else len(metadata)
    md_pos = 0
    data_pos = 0
    pieces: list[tuple[bytes | None, bytes]] = []
    first = True
    while first or md_pos < metadata_left or data_pos < len(data):
        room = fragment_size - (_fixed_size(frame) if first else HEADER_SIZE)
        piece_md: bytes | None = None
        if metadata is not None and (md_pos < metadata_left or first):
            room -= _METADATA_LENGTH
            take = min(room, metadata_left - md_pos)
            piece_md = metadata[md_pos : md_pos + take]
            md_pos += take
            room -= take
        piece_data = b""
        if md_pos >= metadata_left and room > 0:
            piece_data = data[data_pos : data_pos + room]
            data_pos += len(piece_data)
        pieces.append((piece_md, piece_data))
        first = False

    last = len(pieces) - 1
    frames: list[MessageFrame] = []
    for index, (piece_md, piece_data) in enumerate(pieces):
        follows = index != last
        if index == 0:
            frames.append(_first_fragment(frame, piece_md, piece_data))
        else:
            complete = not follows and _completes(frame)
            # Continuations of a request or a value are "next" payloads (FR-6); a lone
            # completion with a body cannot be fragmented, so N is always right here.
            frames.append(PayloadFrame(frame.stream_id, piece_data, piece_md, follows, complete, True))
    return frames


def _completes(frame: MessageFrame) -> bool:
    return isinstance(frame, PayloadFrame | RequestChannelFrame) and frame.complete


def _first_fragment(frame: MessageFrame, metadata: bytes | None, data: bytes) -> MessageFrame:
    if isinstance(frame, RequestResponseFrame):
        return RequestResponseFrame(frame.stream_id, data, metadata, True)
    if isinstance(frame, RequestFnfFrame):
        return RequestFnfFrame(frame.stream_id, data, metadata, True)
    if isinstance(frame, RequestStreamFrame):
        return RequestStreamFrame(frame.stream_id, frame.initial_request_n, data, metadata, True)
    if isinstance(frame, RequestChannelFrame):
        return RequestChannelFrame(frame.stream_id, frame.initial_request_n, data, metadata, True, False)
    return PayloadFrame(frame.stream_id, data, metadata, True, False, True)


class Reassembly:
    """The pieces of one fragmented message on one stream."""

    __slots__ = ("data_parts", "first", "metadata_parts", "size")

    def __init__(self, first: MessageFrame) -> None:
        self.first = first
        self.metadata_parts: list[bytes] | None = None if first.metadata is None else [first.metadata]
        self.data_parts = [first.data]
        self.size = len(first.data) + (0 if first.metadata is None else len(first.metadata))

    def add(self, data: bytes, metadata: bytes | None) -> None:
        """The data and metadata of the next continuation (a PAYLOAD with or without F)."""
        if metadata is not None:
            if self.metadata_parts is None:
                # Lenient: metadata after a first fragment without M (FR-4 forbids it,
                # rsocket-java would break); keep it rather than lose it.
                self.metadata_parts = []
            self.metadata_parts.append(metadata)
            self.size += len(metadata)
        self.data_parts.append(data)
        self.size += len(data)

    def metadata(self) -> bytes | None:
        return None if self.metadata_parts is None else b"".join(self.metadata_parts)

    def data(self) -> bytes:
        return b"".join(self.data_parts)
