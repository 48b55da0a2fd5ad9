"""Per-stream bookkeeping: which halves are open, and request-n credit both ways."""

from __future__ import annotations

from ..frames.types import MAX_U31
from .events import RequestKind
from .fragmentation import Reassembly

#: A credit at or past 2^31-1 means "unbounded" and never counts down again (D-2, RN-5).
UNBOUNDED = MAX_U31


def add_credit(current: int, n: int) -> int:
    """Credit after granting ``n`` more, saturated at :data:`UNBOUNDED` (RN-2)."""
    total = current + n
    return UNBOUNDED if total >= UNBOUNDED else total


class Stream:
    """One live stream, seen from our side.

    ``outbound_open`` / ``inbound_open`` say whether we may still send, and may
    still receive, PAYLOAD frames.  ``send_credit`` is what the peer granted us;
    ``receive_credit`` is what we granted the peer and it has not used yet.
    """

    __slots__ = (
        "inbound_open",
        "is_requester",
        "kind",
        "outbound_open",
        "reassembly",
        "receive_credit",
        "send_credit",
        "stream_id",
    )

    def __init__(
        self,
        stream_id: int,
        kind: RequestKind,
        *,
        is_requester: bool,
        send_credit: int,
        receive_credit: int,
        inbound_open: bool = True,
        outbound_open: bool = True,
    ) -> None:
        self.stream_id = stream_id
        self.kind = kind
        self.is_requester = is_requester
        self.send_credit = send_credit
        self.receive_credit = receive_credit
        self.inbound_open = inbound_open
        self.outbound_open = outbound_open
        self.reassembly: Reassembly | None = None

    @property
    def finished(self) -> bool:
        return not (self.inbound_open or self.outbound_open)

    def __repr__(self) -> str:
        role = "requester" if self.is_requester else "responder"
        return (
            f"<Stream {self.stream_id} {self.kind.value} {role} in={self.inbound_open} "
            f"out={self.outbound_open} send_credit={self.send_credit} "
            f"receive_credit={self.receive_credit}>"
        )
