"""Connection settings, validated when built so a bad value fails where it is written."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import LocalProtocolError
from ..frames.types import MAX_FRAME_SIZE, MAX_U31

#: rsocket-java refuses an MTU under 64 bytes and non-final fragments under 61 (FR-10).
MIN_FRAGMENT_SIZE = 64
DEFAULT_MAX_INBOUND_PAYLOAD = 64 * 1024 * 1024
DEFAULT_MAX_STREAMS = 10_000


@dataclass(slots=True)
class ConnectionConfig:
    """Everything a connection needs to know, for both roles.

    Client-only fields (SETUP contents) are ignored by servers; servers learn the
    keepalive interval, max lifetime and MIME types from the client's SETUP.
    """

    keepalive_interval: float = 20.0
    """Seconds between client KEEPALIVE frames (sent as 31-bit milliseconds)."""
    max_lifetime: float = 90.0
    """Seconds of silence from the peer after which the connection is declared dead."""
    metadata_mime: str = "application/octet-stream"
    data_mime: str = "application/octet-stream"
    setup_data: bytes = b""
    setup_metadata: bytes | None = None
    fragment_size: int = 0
    """Largest request or PAYLOAD frame we send, in bytes without the transport's length
    prefix; larger messages are fragmented.  0 means "only when a frame would pass the 16 MiB
    limit".  Frames that cannot be fragmented (ERROR, METADATA_PUSH, KEEPALIVE, SETUP: FR-1)
    always go out whole."""
    max_inbound_payload_size: int = DEFAULT_MAX_INBOUND_PAYLOAD
    """Largest reassembled message (data + metadata) accepted from the peer (FR-9)."""
    max_frame_size: int = MAX_FRAME_SIZE
    max_streams: int = DEFAULT_MAX_STREAMS
    """Most streams open at once on the connection, both directions: a peer's request past
    it is answered ERROR[REJECTED] (guaranteed unprocessed), so a peer cannot make us hold
    unbounded state; our own request past it raises."""
    lease: bool = False
    """Leasing (§3.13).  Client: send SETUP with L, then honour the server's LEASEs and
    enforce our own.  Server: accept a SETUP with L (without this it gets UNSUPPORTED_SETUP);
    a SETUP without L is served without leases."""
    resumable: bool = False
    """The session layer keeps this connection's state across transports (§3.14): a server
    then accepts SETUPs carrying a resume token, and on either side a peer silent past the
    max lifetime only costs the current transport (:class:`PeerSilent`), not the connection."""
    resume_token: bytes | None = None
    """Client: the token sent in SETUP (R flag) to resume with later; needs ``resumable``."""

    def __post_init__(self) -> None:
        for name in ("keepalive_interval", "max_lifetime"):
            seconds = getattr(self, name)
            if not 0.001 <= seconds <= MAX_U31 / 1000:
                raise LocalProtocolError(
                    f"{name} must be between 0.001 and {MAX_U31 / 1000:.0f} seconds, not {seconds!r}"
                )
        if self.fragment_size and not MIN_FRAGMENT_SIZE <= self.fragment_size <= MAX_FRAME_SIZE:
            raise LocalProtocolError(
                f"fragment_size must be 0 (off) or {MIN_FRAGMENT_SIZE}..{MAX_FRAME_SIZE} bytes, "
                f"not {self.fragment_size}; rsocket-java rejects smaller fragments"
            )
        if self.max_inbound_payload_size < 1:
            raise LocalProtocolError("max_inbound_payload_size must be at least 1 byte")
        if self.max_streams < 1:
            raise LocalProtocolError(f"max_streams must be at least 1, not {self.max_streams}")
        if not 64 <= self.max_frame_size <= MAX_FRAME_SIZE:
            raise LocalProtocolError(f"max_frame_size must be in 64..{MAX_FRAME_SIZE}")
        if self.resume_token is not None:
            if not self.resumable:
                raise LocalProtocolError("a resume_token needs resumable=True")
            if not 1 <= len(self.resume_token) <= 0xFFFF:
                raise LocalProtocolError(
                    f"a resume token must be 1..65535 bytes, not {len(self.resume_token)} (RE-12)"
                )
        for name in ("metadata_mime", "data_mime"):
            value = getattr(self, name)
            if not value.isascii() or len(value) > 255:
                raise LocalProtocolError(f"{name} must be US-ASCII of at most 255 bytes: {value!r}")

    def for_transport(self, max_message_size: int | None) -> ConnectionConfig:
        """This config, fragmenting to fit a message transport's largest message (Aeron's), if any."""
        if max_message_size is None or max_message_size >= (self.fragment_size or MAX_FRAME_SIZE):
            return self
        return replace(self, fragment_size=max_message_size)

    @property
    def keepalive_interval_ms(self) -> int:
        return max(1, round(self.keepalive_interval * 1000))

    @property
    def max_lifetime_ms(self) -> int:
        return max(1, round(self.max_lifetime * 1000))
