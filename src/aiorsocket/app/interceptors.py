"""Interceptors: code that runs around every request and connection (logging, metrics, tracing, limits).

Subclass :class:`Interceptor` and override what you need.  For every request
the router calls ``request_started`` (in registration order) before the route
is checked or the handler runs, and ``request_finished`` (in reverse order)
once the interaction is over: response sent, stream completed, error sent or
cancelled by the peer.  The :class:`~aiorsocket.app.RequestContext` then
holds the outcome, the error code and the duration.

``request_started`` may raise an RSocket error (``RejectedError``, ...) to
refuse the request; the interceptors that had started then finish, the later
ones never hear of it (so counters stay balanced).  A failing
``request_finished`` is logged and ignored.
Both run in the task that serves the request, so a context variable set in
``request_started`` is visible to the handler.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextvars import Token

from ..extensions import Sampling
from .context import ConnectionContext, Outcome, RequestContext
from .tracing import Span, current_span


class Interceptor:
    """Hooks around requests and connections; every method does nothing by default."""

    async def request_started(self, ctx: RequestContext) -> None:
        """Before routing; raise an RSocket error to refuse the request."""

    async def request_finished(self, ctx: RequestContext) -> None:
        """After the interaction ended; ``ctx.outcome``, ``ctx.error`` and ``ctx.duration`` are final."""

    async def connection_opened(self, connection: ConnectionContext) -> None:
        """A SETUP was accepted (server side)."""

    async def connection_closed(self, connection: ConnectionContext) -> None:
        """A connection accepted earlier has closed."""


class LoggingInterceptor(Interceptor):
    """One log line per request and per connection, e.g. ``request/response users.42 ok 1.3 ms alice``."""

    def __init__(self, logger: logging.Logger | None = None, *, level: int = logging.INFO) -> None:
        self.logger = logger if logger is not None else logging.getLogger("aiorsocket.access")
        self.level = level

    async def request_finished(self, ctx: RequestContext) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        outcome = ctx.outcome.value
        if ctx.outcome is Outcome.ERROR and ctx.error is not None:
            outcome = f"error {ctx.error_code:#x} {ctx.error}"
        self.logger.log(
            self.level,
            "%s %s %s %.1f ms%s",
            ctx.interaction.label,
            ctx.route if ctx.route is not None else "-",
            outcome,
            ctx.duration * 1000,
            f" {ctx.principal.name}" if ctx.principal is not None else "",
        )

    async def connection_opened(self, connection: ConnectionContext) -> None:
        setup = connection.setup
        self.logger.log(
            self.level,
            "connection from %s: data %s, metadata %s%s",
            setup.peer if setup is not None else "?",
            connection.data_mime,
            connection.metadata_mime,
            f", principal {connection.principal.name}" if connection.principal is not None else "",
        )

    async def connection_closed(self, connection: ConnectionContext) -> None:
        setup = connection.setup
        self.logger.log(self.level, "connection from %s closed", setup.peer if setup is not None else "?")


SpanReporter = Callable[[Span, RequestContext], None]


class TracingInterceptor(Interceptor):
    """Zipkin-style spans from the tracing extension.

    Each request gets a span: a child of the caller's span when the request
    carries one, else a new trace.  While the request is served the span is
    :data:`~aiorsocket.app.tracing.current_span`, so requests the handler makes
    through a :class:`~aiorsocket.app.Requester` carry it on.  ``report`` is
    called with each finished span (hand it to your tracing backend).
    """

    def __init__(self, report: SpanReporter | None = None, *, sample_new_traces: bool = True) -> None:
        self.report = report
        self.sampling = Sampling.SAMPLED if sample_new_traces else Sampling.NOT_SAMPLED

    async def request_started(self, ctx: RequestContext) -> None:
        incoming = ctx.tracing
        parent = Span.from_metadata(incoming) if incoming is not None else None
        if parent is not None:
            span = parent.child()
        else:
            sampling = (
                incoming.sampling
                if incoming is not None and incoming.sampling is not Sampling.UNDECIDED
                else None
            )
            span = Span.root(sampling or self.sampling)
        ctx.attributes["span"] = span
        ctx.attributes["span_token"] = current_span.set(span)

    async def request_finished(self, ctx: RequestContext) -> None:
        token: Token[Span | None] | None = ctx.attributes.pop("span_token", None)
        if token is not None:
            # Finished in another context (a cancelled stream's cleanup): nothing to restore.
            with contextlib.suppress(ValueError):
                current_span.reset(token)
        span = ctx.attributes.get("span")
        if self.report is not None and isinstance(span, Span):
            self.report(span, ctx)
