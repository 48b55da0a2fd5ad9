"""Events a :class:`~aiorsocket.protocol.connection.Connection` hands to its driver.

Names are in the past tense: each says what the peer did.  Payload bodies are
delivered whole: fragments are reassembled before an event is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..frames import SetupFrame


class RequestKind(Enum):
    REQUEST_RESPONSE = "request_response"
    FIRE_AND_FORGET = "fire_and_forget"
    REQUEST_STREAM = "request_stream"
    REQUEST_CHANNEL = "request_channel"


@dataclass(slots=True)
class SetupReceived:
    """Server side: the client's SETUP; answer with ``accept_setup`` or ``reject_setup``."""

    setup: SetupFrame


@dataclass(slots=True)
class RequestReceived:
    """The peer opened a stream (or sent a fire-and-forget) towards our responder."""

    stream_id: int
    kind: RequestKind
    data: bytes
    metadata: bytes | None
    initial_request_n: int = 0
    """Credit the requester granted us (stream and channel; 0 otherwise)."""
    complete: bool = False
    """Channel only: the requester completed its half with the first payload."""


@dataclass(slots=True)
class PayloadReceived:
    """A PAYLOAD on one of our streams: a value (``next``), completion, or both."""

    stream_id: int
    data: bytes
    metadata: bytes | None
    next: bool
    complete: bool


@dataclass(slots=True)
class RequestNReceived:
    """The peer may now receive ``n`` more payloads from us on ``stream_id``."""

    stream_id: int
    n: int


@dataclass(slots=True)
class CancelReceived:
    """The peer cancelled: stop sending on ``stream_id``."""

    stream_id: int


@dataclass(slots=True)
class ErrorReceived:
    """A stream ended with an ERROR (from the peer, or raised locally by a protocol fault)."""

    stream_id: int
    error_code: int
    message: str


@dataclass(slots=True)
class MetadataPushReceived:
    metadata: bytes


@dataclass(slots=True)
class LeaseReceived:
    """The peer granted a new lease (only when leasing is on); ``ttl`` is in milliseconds."""

    ttl: int
    number_of_requests: int
    metadata: bytes | None


@dataclass(slots=True)
class ConnectionClosed:
    """The connection is over; every stream still open has ended with it.

    ``error_code`` is the code of the stream-0 ERROR that ended it (sent or
    received), or None for a plain transport loss or a clean local close.
    ``by_peer`` says which side ended it.
    """

    error_code: int | None
    message: str
    by_peer: bool


@dataclass(slots=True)
class GracefulCloseReceived:
    """The peer sent ERROR[CONNECTION_CLOSE]: open streams finish, no new requests."""

    message: str


@dataclass(slots=True)
class PeerSilent:
    """A resumable connection heard nothing from its peer for the max lifetime (KA-4).

    The connection stays open: the transport is presumed dead, and the session layer
    drops it and resumes on a new one (as rsocket-java's resumable keepalive does).
    """

    silent_ms: int


Event = (
    SetupReceived
    | RequestReceived
    | PayloadReceived
    | RequestNReceived
    | CancelReceived
    | ErrorReceived
    | MetadataPushReceived
    | LeaseReceived
    | GracefulCloseReceived
    | ConnectionClosed
    | PeerSilent
)
