"""Sans-IO codecs for the RSocket metadata extensions (checklist §5).

Pure functions from values to bytes and back; no I/O, no dependencies.
Malformed input from the network raises :class:`~aiorsocket.errors.MetadataError`
naming the rule it broke (CM-, RT-, AU-, MT-, TR- ids, listed in each module);
values our own caller passes that the wire cannot carry raise
:class:`~aiorsocket.errors.LocalProtocolError`.
"""

from __future__ import annotations

from ._wire import TypeRef
from .auth import (
    Auth,
    BearerAuth,
    CustomAuth,
    SimpleAuth,
    WellKnownAuthType,
    decode_auth,
    encode_auth,
)
from .builder import CompositeMetadata, build_composite_metadata, parse_composite_metadata
from .composite import CompositeEntry, decode_composite, encode_composite, iter_composite
from .mimetypes import (
    ACCEPT_MIME_TYPES_MIME,
    AUTHENTICATION_MIME,
    COMPOSITE_METADATA_MIME,
    DATA_MIME_TYPE_MIME,
    ROUTING_MIME,
    TRACING_ZIPKIN_MIME,
    CompactIds,
    WellKnownMimeType,
    mime_id,
    mime_name,
    mime_wire_form,
)
from .routing import decode_routing, encode_routing
from .stream_mime import (
    decode_accept_mime_types,
    decode_mime_type,
    encode_accept_mime_types,
    encode_mime_type,
)
from .tracing import Sampling, TracingMetadata, decode_tracing, encode_tracing

__all__ = [
    "ACCEPT_MIME_TYPES_MIME",
    "AUTHENTICATION_MIME",
    "COMPOSITE_METADATA_MIME",
    "DATA_MIME_TYPE_MIME",
    "ROUTING_MIME",
    "TRACING_ZIPKIN_MIME",
    "Auth",
    "BearerAuth",
    "CompactIds",
    "CompositeEntry",
    "CompositeMetadata",
    "CustomAuth",
    "Sampling",
    "SimpleAuth",
    "TracingMetadata",
    "TypeRef",
    "WellKnownAuthType",
    "WellKnownMimeType",
    "build_composite_metadata",
    "decode_accept_mime_types",
    "decode_auth",
    "decode_composite",
    "decode_mime_type",
    "decode_routing",
    "decode_tracing",
    "encode_accept_mime_types",
    "encode_auth",
    "encode_composite",
    "encode_mime_type",
    "encode_routing",
    "encode_tracing",
    "iter_composite",
    "mime_id",
    "mime_name",
    "mime_wire_form",
    "parse_composite_metadata",
]
