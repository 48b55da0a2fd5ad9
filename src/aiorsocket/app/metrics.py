"""Prometheus metrics as an interceptor (``pip install 'aiorsocket[prometheus]'``).

Series (``namespace`` defaults to ``aiorsocket``):

* ``<ns>_requests_total{route, interaction, outcome}``: finished requests.
* ``<ns>_request_errors_total{route, interaction, code}``: requests answered
  with an ERROR (``code`` is its name, e.g. ``APPLICATION_ERROR``).
* ``<ns>_request_duration_seconds{route, interaction}``: histogram, arrival to end.
* ``<ns>_open_streams{interaction}``: requests in progress.
* ``<ns>_open_connections`` and ``<ns>_connections_total``.

``route`` is the route *template* that matched (``users.{id}``), so the number
of series stays bounded whatever routes clients send; unknown routes count as
``<unknown>`` and requests without a route as ``<none>``.
"""

from __future__ import annotations

from typing import Any, Final

from ..errors import ErrorCode
from ._optional import import_optional
from .context import ConnectionContext, Interaction, RequestContext
from .interceptors import Interceptor

#: Latency buckets in seconds: sub-millisecond loopback calls up to slow streams.
DEFAULT_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"0x{code:08x}"


class PrometheusMetrics(Interceptor):
    """Counts and times every request; pass ``registry`` to keep the series out of the global one."""

    def __init__(
        self,
        *,
        registry: Any = None,
        namespace: str = "aiorsocket",
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> None:
        prometheus = import_optional(
            "prometheus_client", package="prometheus-client", extra="prometheus", what="PrometheusMetrics"
        )
        if registry is None:
            registry = prometheus.REGISTRY
        self.registry = registry
        self.requests = prometheus.Counter(
            "requests",
            "Finished requests",
            ["route", "interaction", "outcome"],
            namespace=namespace,
            registry=registry,
        )
        self.errors = prometheus.Counter(
            "request_errors",
            "Requests answered with an ERROR frame",
            ["route", "interaction", "code"],
            namespace=namespace,
            registry=registry,
        )
        self.latency = prometheus.Histogram(
            "request_duration_seconds",
            "Seconds from a request's arrival to its end",
            ["route", "interaction"],
            namespace=namespace,
            registry=registry,
            buckets=buckets,
        )
        self.open_streams = prometheus.Gauge(
            "open_streams", "Requests in progress", ["interaction"], namespace=namespace, registry=registry
        )
        self.open_connections = prometheus.Gauge(
            "open_connections", "Accepted connections still open", namespace=namespace, registry=registry
        )
        self.connections = prometheus.Counter(
            "connections", "Accepted connections", namespace=namespace, registry=registry
        )
        for interaction in Interaction:
            if interaction is not Interaction.SETUP:
                # Export zero from the start, so rate() and absent() behave before the first request.
                self.open_streams.labels(interaction.value)

    @staticmethod
    def _route(ctx: RequestContext) -> str:
        if ctx.template is not None:
            return ctx.template
        return "<none>" if ctx.route is None else "<unknown>"

    async def request_started(self, ctx: RequestContext) -> None:
        self.open_streams.labels(ctx.interaction.value).inc()

    async def request_finished(self, ctx: RequestContext) -> None:
        interaction = ctx.interaction.value
        route = self._route(ctx)
        self.open_streams.labels(interaction).dec()
        self.requests.labels(route, interaction, ctx.outcome.value).inc()
        self.latency.labels(route, interaction).observe(ctx.duration)
        code = ctx.error_code
        if code is not None:
            self.errors.labels(route, interaction, _code_name(code)).inc()

    async def connection_opened(self, connection: ConnectionContext) -> None:
        self.connections.inc()
        self.open_connections.inc()

    async def connection_closed(self, connection: ConnectionContext) -> None:
        self.open_connections.dec()


def start_metrics_server(port: int, host: str = "127.0.0.1", *, registry: Any = None) -> None:
    """Serve ``/metrics`` over HTTP on ``host:port`` (a background thread of prometheus-client)."""
    prometheus = import_optional(
        "prometheus_client", package="prometheus-client", extra="prometheus", what="the metrics endpoint"
    )
    prometheus.start_http_server(
        port, addr=host, registry=registry if registry is not None else prometheus.REGISTRY
    )
