"""Zipkin spans carried in the tracing extension (checklist §5.6) and the one in progress.

:class:`~aiorsocket.app.TracingInterceptor` sets :data:`current_span` while a
request is served; a :class:`~aiorsocket.app.Requester` used meanwhile sends
a child span with each request, so a trace follows a call across services.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from dataclasses import dataclass

from ..extensions import Sampling, TracingMetadata


def _new_id() -> int:
    # Zipkin treats 0 as "no id".
    return secrets.randbits(64) or 1


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: int
    span_id: int
    parent_id: int | None = None
    sampling: Sampling = Sampling.SAMPLED
    trace_id_128: bool = False

    @classmethod
    def root(cls, sampling: Sampling = Sampling.SAMPLED) -> Span:
        return cls(_new_id(), _new_id(), None, sampling)

    @classmethod
    def from_metadata(cls, tracing: TracingMetadata) -> Span | None:
        """The caller's span, or None when the entry carries only a sampling decision."""
        if tracing.trace_id is None or tracing.span_id is None:
            return None
        return cls(
            tracing.trace_id, tracing.span_id, tracing.parent_span_id, tracing.sampling, tracing.trace_id_128
        )

    def child(self) -> Span:
        return Span(self.trace_id, _new_id(), self.span_id, self.sampling, self.trace_id_128)

    def to_metadata(self) -> TracingMetadata:
        return TracingMetadata(self.sampling, self.trace_id, self.span_id, self.parent_id, self.trace_id_128)

    @property
    def trace_hex(self) -> str:
        return f"{self.trace_id:032x}" if self.trace_id_128 else f"{self.trace_id:016x}"


current_span: ContextVar[Span | None] = ContextVar("aiorsocket_current_span", default=None)
