"""The RSocket wire format, sans-IO: frame values, encoder, decoder, stream deframer.

Nothing in here imports asyncio or touches a socket; everything works on bytes.
"""

from __future__ import annotations

from .codec import decode_frame, encode_frame, encode_frame_with_length
from .deframer import Deframer
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
    MAX_FRAME_SIZE,
    MAX_STREAM_ID,
    MAX_U31,
    MAX_U63,
    REQUEST_N_UNBOUNDED,
    FrameType,
)

__all__ = [
    "MAX_FRAME_SIZE",
    "MAX_STREAM_ID",
    "MAX_U31",
    "MAX_U63",
    "REQUEST_N_UNBOUNDED",
    "CancelFrame",
    "Deframer",
    "ErrorFrame",
    "ExtFrame",
    "Frame",
    "FrameType",
    "KeepaliveFrame",
    "LeaseFrame",
    "MetadataPushFrame",
    "PayloadFrame",
    "RequestChannelFrame",
    "RequestFnfFrame",
    "RequestNFrame",
    "RequestResponseFrame",
    "RequestStreamFrame",
    "ResumeFrame",
    "ResumeOkFrame",
    "SetupFrame",
    "decode_frame",
    "encode_frame",
    "encode_frame_with_length",
]
