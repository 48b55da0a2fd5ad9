"""One dataclass per frame type.

Frames are plain values: construct them, compare them, hand them to
:func:`aiorsocket.frames.encode_frame`.  They are slotted but not frozen, because
a frozen dataclass's ``__init__`` costs about twice as much and frames are made
on the hot path; treat them as immutable all the same.

Conventions shared by every class:

* ``metadata`` is ``None`` when the M flag is clear and ``bytes`` (possibly
  empty) when it is set, so "empty" and "absent" survive a round trip (D-9).
* ``data`` is always ``bytes`` (empty when there is none).
* Flags that change the layout (R in SETUP, M) are derived from the fields;
  the others are booleans named after the spec's flag.
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import DEFAULT_VERSION, FrameType


@dataclass(slots=True)
class SetupFrame:
    keepalive_interval: int
    """Milliseconds between client KEEPALIVE frames (31-bit, > 0)."""
    max_lifetime: int
    """Milliseconds the client lets the server stay silent (31-bit, > 0)."""
    metadata_mime: str
    data_mime: str
    data: bytes = b""
    metadata: bytes | None = None
    resume_token: bytes | None = None
    """Present (possibly empty) exactly when the R flag is set (SU-6)."""
    lease: bool = False
    major: int = DEFAULT_VERSION[0]
    minor: int = DEFAULT_VERSION[1]

    frame_type = FrameType.SETUP
    stream_id = 0


@dataclass(slots=True)
class LeaseFrame:
    ttl: int
    """Milliseconds the lease stays valid from its arrival (LE-2)."""
    number_of_requests: int
    metadata: bytes | None = None

    frame_type = FrameType.LEASE
    stream_id = 0


@dataclass(slots=True)
class KeepaliveFrame:
    last_received_position: int = 0
    data: bytes = b""
    respond: bool = False

    frame_type = FrameType.KEEPALIVE
    stream_id = 0


@dataclass(slots=True)
class RequestResponseFrame:
    stream_id: int
    data: bytes = b""
    metadata: bytes | None = None
    follows: bool = False

    frame_type = FrameType.REQUEST_RESPONSE


@dataclass(slots=True)
class RequestFnfFrame:
    stream_id: int
    data: bytes = b""
    metadata: bytes | None = None
    follows: bool = False

    frame_type = FrameType.REQUEST_FNF


@dataclass(slots=True)
class RequestStreamFrame:
    stream_id: int
    initial_request_n: int
    data: bytes = b""
    metadata: bytes | None = None
    follows: bool = False

    frame_type = FrameType.REQUEST_STREAM


@dataclass(slots=True)
class RequestChannelFrame:
    stream_id: int
    initial_request_n: int
    data: bytes = b""
    metadata: bytes | None = None
    follows: bool = False
    complete: bool = False

    frame_type = FrameType.REQUEST_CHANNEL


@dataclass(slots=True)
class RequestNFrame:
    stream_id: int
    request_n: int

    frame_type = FrameType.REQUEST_N


@dataclass(slots=True)
class CancelFrame:
    stream_id: int

    frame_type = FrameType.CANCEL


@dataclass(slots=True)
class PayloadFrame:
    stream_id: int
    data: bytes = b""
    metadata: bytes | None = None
    follows: bool = False
    complete: bool = False
    next: bool = False

    frame_type = FrameType.PAYLOAD


@dataclass(slots=True)
class ErrorFrame:
    stream_id: int
    error_code: int
    """Unsigned 32-bit (D-3); see :class:`aiorsocket.errors.ErrorCode`."""
    data: bytes = b""
    """UTF-8 error text as sent; :attr:`message` decodes it."""

    frame_type = FrameType.ERROR

    @property
    def message(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass(slots=True)
class MetadataPushFrame:
    metadata: bytes

    frame_type = FrameType.METADATA_PUSH
    stream_id = 0


@dataclass(slots=True)
class ResumeFrame:
    resume_token: bytes
    last_received_server_position: int
    first_available_client_position: int
    major: int = DEFAULT_VERSION[0]
    minor: int = DEFAULT_VERSION[1]

    frame_type = FrameType.RESUME
    stream_id = 0


@dataclass(slots=True)
class ResumeOkFrame:
    last_received_client_position: int

    frame_type = FrameType.RESUME_OK
    stream_id = 0


@dataclass(slots=True)
class ExtFrame:
    """An EXT frame, laid out as rsocket-java does after the extended type (IG-3)."""

    stream_id: int
    extended_type: int
    data: bytes = b""
    metadata: bytes | None = None
    ignore: bool = False
    """The I flag: a receiver that does not know ``extended_type`` must drop it (IG-1)."""

    frame_type = FrameType.EXT


Frame = (
    SetupFrame
    | LeaseFrame
    | KeepaliveFrame
    | RequestResponseFrame
    | RequestFnfFrame
    | RequestStreamFrame
    | RequestChannelFrame
    | RequestNFrame
    | CancelFrame
    | PayloadFrame
    | ErrorFrame
    | MetadataPushFrame
    | ResumeFrame
    | ResumeOkFrame
    | ExtFrame
)
