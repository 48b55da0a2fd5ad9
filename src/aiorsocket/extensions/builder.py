"""One-call building and reading of composite request metadata.

:func:`build_composite_metadata` assembles the entries a request usually needs
(route, auth, data MIME, accepted MIMEs, tracing, anything else) in a fixed
order; :func:`parse_composite_metadata` turns composite metadata back into a
:class:`CompositeMetadata` with the well-known extensions decoded and every
raw entry kept, in order, for whatever the typed fields do not cover.

When an extension appears more than once, the typed field reflects the first
entry of that MIME (the later ones stay in ``entries``).  MIMEs are matched by
name, so an entry sent as a string is recognised just like one sent as an id.
A malformed entry of a known extension raises that codec's
:class:`~aiorsocket.errors.MetadataError`; entries of unknown MIMEs are never
looked into.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._wire import Buffer, TypeRef
from .auth import Auth, decode_auth, encode_auth
from .composite import CompositeEntry, decode_composite, encode_composite
from .mimetypes import CompactIds, WellKnownMimeType, display_mime, mime_wire_form
from .routing import decode_routing, encode_routing
from .stream_mime import (
    decode_accept_mime_types,
    decode_mime_type,
    encode_accept_mime_types,
    encode_mime_type,
)
from .tracing import TracingMetadata, decode_tracing, encode_tracing


def build_composite_metadata(
    *,
    route: str | None = None,
    tags: str | Sequence[str] = (),
    auth: Auth | None = None,
    data_mime: TypeRef | None = None,
    accept: TypeRef | Sequence[TypeRef] = (),
    tracing: TracingMetadata | None = None,
    extra: Iterable[CompositeEntry | tuple[TypeRef, bytes]] = (),
    compact: CompactIds = CompactIds.JAVA_KNOWN,
) -> bytes:
    """Composite metadata for a request, in one call.

    ``route`` is written as the first routing tag and ``tags`` after it.
    A bare string for ``tags`` or ``accept`` counts as one item, not as a
    sequence of one-character items.
    ``compact`` decides which well-known MIMEs (entry types, ``data_mime`` and
    ``accept`` items) go out as ids; see :class:`CompactIds`.  ``extra``
    entries follow the others: a :class:`CompositeEntry` is written exactly as
    given, a ``(mime, content)`` pair goes through the ``compact`` policy.
    """
    entries: list[CompositeEntry] = []

    def add(mime: WellKnownMimeType, content: bytes) -> None:
        entries.append(CompositeEntry.of(mime, content, compact=compact))

    if isinstance(tags, str):
        tags = (tags,)
    if isinstance(accept, str | int):
        accept = (accept,)
    routing_tags = [route, *tags] if route is not None else list(tags)
    if routing_tags:
        add(WellKnownMimeType.MESSAGE_RSOCKET_ROUTING, encode_routing(routing_tags))
    if data_mime is not None:
        add(WellKnownMimeType.MESSAGE_RSOCKET_MIMETYPE, encode_mime_type(mime_wire_form(data_mime, compact)))
    if accept:
        add(
            WellKnownMimeType.MESSAGE_RSOCKET_ACCEPT_MIMETYPES,
            encode_accept_mime_types(mime_wire_form(mime, compact) for mime in accept),
        )
    if auth is not None:
        add(WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION, encode_auth(auth))
    if tracing is not None:
        add(WellKnownMimeType.MESSAGE_RSOCKET_TRACING_ZIPKIN, encode_tracing(tracing))
    entries.extend(
        item if isinstance(item, CompositeEntry) else CompositeEntry.of(*item, compact=compact)
        for item in extra
    )
    return encode_composite(entries)


@dataclass(frozen=True, slots=True)
class CompositeMetadata:
    """Composite metadata with the well-known extensions decoded.

    ``data_mime`` and ``accept`` hold MIME strings whichever form they were
    sent in; only an unknown reserved id, which has no string, stays an int.
    """

    entries: tuple[CompositeEntry, ...] = ()
    tags: tuple[str, ...] = ()
    auth: Auth | None = None
    data_mime: TypeRef | None = None
    accept: tuple[TypeRef, ...] = ()
    tracing: TracingMetadata | None = None

    @property
    def route(self) -> str | None:
        """The first routing tag, by convention the route."""
        return self.tags[0] if self.tags else None

    def find(self, mime: TypeRef) -> tuple[CompositeEntry, ...]:
        """Every entry of ``mime`` (by name, so id and string forms both match), in order."""
        return tuple(entry for entry in self.entries if entry.is_mime(mime))


_ROUTING = WellKnownMimeType.MESSAGE_RSOCKET_ROUTING.mime
_AUTHENTICATION = WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION.mime
_MIMETYPE = WellKnownMimeType.MESSAGE_RSOCKET_MIMETYPE.mime
_ACCEPT_MIMETYPES = WellKnownMimeType.MESSAGE_RSOCKET_ACCEPT_MIMETYPES.mime
_TRACING_ZIPKIN = WellKnownMimeType.MESSAGE_RSOCKET_TRACING_ZIPKIN.mime


def parse_composite_metadata(buf: Buffer, *, legacy_u8_username: bool = False) -> CompositeMetadata:
    """Decode composite metadata and the well-known extensions inside it.

    ``legacy_u8_username`` is passed to :func:`~aiorsocket.extensions.decode_auth`.
    """
    entries = tuple(decode_composite(buf))
    # One pass, keyed by MIME name (so id and string forms match): this runs for every routed request.
    firsts: dict[str, bytes] = {}
    for entry in entries:
        name = entry.mime_name
        if name is not None and name not in firsts:
            firsts[name] = entry.content

    routing = firsts.get(_ROUTING)
    auth = firsts.get(_AUTHENTICATION)
    data_mime = firsts.get(_MIMETYPE)
    accept = firsts.get(_ACCEPT_MIMETYPES)
    tracing = firsts.get(_TRACING_ZIPKIN)
    accepted = decode_accept_mime_types(accept) if accept is not None else []
    return CompositeMetadata(
        entries=entries,
        tags=tuple(decode_routing(routing)) if routing is not None else (),
        auth=decode_auth(auth, legacy_u8_username=legacy_u8_username) if auth is not None else None,
        data_mime=display_mime(decode_mime_type(data_mime)) if data_mime is not None else None,
        accept=tuple(display_mime(mime) for mime in accepted),
        tracing=decode_tracing(tracing) if tracing is not None else None,
    )
