"""The app layer: message-mapped RSocket services, as Spring's ``@MessageMapping`` apps are.

Optional sugar on the plain :class:`~aiorsocket.RequestHandler` interface
(design.md): a :class:`Router` with route decorators, codecs chosen by MIME,
typed bodies, authentication and per-route rights, interceptors and
Prometheus metrics, and a :class:`Requester` that makes the same typed calls
from a client or from a server handler back to its client.
"""

from __future__ import annotations

from ._optional import MissingExtraError
from .auth import (
    AuthenticationError,
    Authenticator,
    BearerAuthenticator,
    Principal,
    Requirement,
    SimpleAuthenticator,
    UnsupportedCredentialsError,
    any_of,
    anyone,
    authenticated,
    has_any_role,
    has_role,
)
from .codecs import (
    BytesCodec,
    CborCodec,
    Codec,
    CodecError,
    Codecs,
    JsonCodec,
    MsgpackCodec,
    TextCodec,
)
from .context import ConnectionContext, Interaction, Outcome, RequestContext
from .convert import ConversionError
from .interceptors import Interceptor, LoggingInterceptor, TracingInterceptor
from .metrics import PrometheusMetrics, start_metrics_server
from .params import Endpoint, Metadata, SetupData
from .requester import Requester, RequesterConnection, RequestSpec, ResponseStream
from .router import RoutedResponder, Router
from .templates import RouteTemplate
from .tracing import Span, current_span

__all__ = [
    "AuthenticationError",
    "Authenticator",
    "BearerAuthenticator",
    "BytesCodec",
    "CborCodec",
    "Codec",
    "CodecError",
    "Codecs",
    "ConnectionContext",
    "ConversionError",
    "Endpoint",
    "Interaction",
    "Interceptor",
    "JsonCodec",
    "LoggingInterceptor",
    "Metadata",
    "MissingExtraError",
    "MsgpackCodec",
    "Outcome",
    "Principal",
    "PrometheusMetrics",
    "RequestContext",
    "RequestSpec",
    "Requester",
    "RequesterConnection",
    "Requirement",
    "ResponseStream",
    "RouteTemplate",
    "RoutedResponder",
    "Router",
    "SetupData",
    "SimpleAuthenticator",
    "Span",
    "TextCodec",
    "TracingInterceptor",
    "UnsupportedCredentialsError",
    "any_of",
    "anyone",
    "authenticated",
    "current_span",
    "has_any_role",
    "has_role",
    "start_metrics_server",
]
