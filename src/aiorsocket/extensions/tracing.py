"""Zipkin tracing metadata: ``message/x.rsocket.tracing-zipkin.v0`` (checklist §5.6).

Layout: a flags byte, then, only when the I flag is set, the trace id (8
bytes, or 16 with the T flag: high 64 bits first), the span id (8 bytes) and,
with the P flag, the parent span id (8 bytes).

Reading is lenient about flags, writing is canonical:

* Several sampling bits at once are legal on the wire; the decision is read
  with the spec's precedence, D beats S beats N.  We write at most one bit
  (debug as D alone, as rsocket-java does), so such input does not re-encode
  to the same bytes.
* The two low flag bits are unused and ignored; T and P mean nothing without
  I and are ignored then too.

Rules enforced on decode (each raises :class:`~aiorsocket.errors.MetadataError`):

* TR-1: the entry is empty (no flags byte).
* TR-2: the flags announce ids that the entry is too short to hold.
* TR-3: bytes follow the last field the flags announce.  rsocket-java would
  skip them; refusing them keeps a corrupt entry from passing as a valid one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from ..errors import LocalProtocolError, MetadataError
from ._wire import Buffer

FLAG_IDS: Final = 0x80
FLAG_DEBUG: Final = 0x40
FLAG_SAMPLED: Final = 0x20
FLAG_NOT_SAMPLED: Final = 0x10
FLAG_TRACE_ID_128: Final = 0x08
FLAG_PARENT: Final = 0x04

_MAX_U64: Final = 2**64 - 1
_MAX_U128: Final = 2**128 - 1


class Sampling(Enum):
    """The sampling decision carried in the flags."""

    UNDECIDED = 0
    NOT_SAMPLED = FLAG_NOT_SAMPLED
    SAMPLED = FLAG_SAMPLED
    DEBUG = FLAG_DEBUG


@dataclass(frozen=True, slots=True)
class TracingMetadata:
    """A decoded (or to-be-encoded) zipkin tracing entry.

    Without ids (``trace_id`` and ``span_id`` both None) the entry carries only
    the sampling decision.  ``trace_id_128`` says whether the trace id travels
    as 16 bytes; it is switched on by itself when ``trace_id`` needs more than
    64 bits, and may be set by hand to send a small id in the wide form.
    """

    sampling: Sampling = Sampling.UNDECIDED
    trace_id: int | None = None
    span_id: int | None = None
    parent_span_id: int | None = None
    trace_id_128: bool = False

    def __post_init__(self) -> None:
        if (self.trace_id is None) != (self.span_id is None):
            raise LocalProtocolError("tracing needs both trace_id and span_id, or neither")
        if self.trace_id is None:
            if self.parent_span_id is not None or self.trace_id_128:
                raise LocalProtocolError("parent_span_id and trace_id_128 need trace and span ids")
            return
        if not 0 <= self.trace_id <= _MAX_U128:
            raise LocalProtocolError(f"trace_id {self.trace_id:#x} does not fit 128 bits")
        for name, value in (("span_id", self.span_id), ("parent_span_id", self.parent_span_id)):
            if value is not None and not 0 <= value <= _MAX_U64:
                raise LocalProtocolError(f"{name} {value:#x} does not fit 64 bits")
        if self.trace_id > _MAX_U64:
            # Frozen, so the normalisation has to bypass __setattr__.
            object.__setattr__(self, "trace_id_128", True)


def encode_tracing(tracing: TracingMetadata) -> bytes:
    """The body of a tracing-zipkin entry."""
    flags = tracing.sampling.value
    if tracing.trace_id is None or tracing.span_id is None:
        return bytes((flags,))
    flags |= FLAG_IDS
    trace_size = 16 if tracing.trace_id_128 else 8
    if tracing.trace_id_128:
        flags |= FLAG_TRACE_ID_128
    parent = b""
    if tracing.parent_span_id is not None:
        flags |= FLAG_PARENT
        parent = tracing.parent_span_id.to_bytes(8, "big")
    return (
        bytes((flags,))
        + tracing.trace_id.to_bytes(trace_size, "big")
        + tracing.span_id.to_bytes(8, "big")
        + parent
    )


def _sampling(flags: int) -> Sampling:
    for decision in (Sampling.DEBUG, Sampling.SAMPLED, Sampling.NOT_SAMPLED):
        if flags & decision.value:
            return decision
    return Sampling.UNDECIDED


def decode_tracing(buf: Buffer) -> TracingMetadata:
    """Decode a tracing-zipkin entry body."""
    view = memoryview(buf)
    if not view:
        raise MetadataError("tracing entry is empty", rule="TR-1")
    flags = view[0]
    sampling = _sampling(flags)
    if not flags & FLAG_IDS:
        if len(view) > 1:
            raise MetadataError(f"tracing entry without ids has {len(view) - 1} extra bytes", rule="TR-3")
        return TracingMetadata(sampling)
    wide = bool(flags & FLAG_TRACE_ID_128)
    has_parent = bool(flags & FLAG_PARENT)
    trace_size = 16 if wide else 8
    needed = 1 + trace_size + 8 + (8 if has_parent else 0)
    if len(view) < needed:
        raise MetadataError(f"tracing flags {flags:#04x} need {needed} bytes, got {len(view)}", rule="TR-2")
    if len(view) > needed:
        raise MetadataError(f"tracing entry has {len(view) - needed} bytes past its ids", rule="TR-3")
    span_start = 1 + trace_size
    return TracingMetadata(
        sampling,
        trace_id=int.from_bytes(view[1:span_start], "big"),
        span_id=int.from_bytes(view[span_start : span_start + 8], "big"),
        parent_span_id=int.from_bytes(view[span_start + 8 :], "big") if has_parent else None,
        trace_id_128=wide,
    )
