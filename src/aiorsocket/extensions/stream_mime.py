"""Per-stream data MIME types (checklist §5.5).

* ``message/x.rsocket.mime-type.v0``: exactly one item, the MIME of this
  stream's data.
* ``message/x.rsocket.accept-mime-types.v0``: a run of items, the data MIMEs
  the requester accepts in responses (an empty run decodes to an empty list).

Each item is a type item: a well-known id, or length-1 + US-ASCII string
(D-1).  Items decode to a :class:`~aiorsocket.extensions.WellKnownMimeType`,
a plain int for an unknown reserved id, or the string, so the exact wire form
survives a round trip.

Rules enforced on decode (each raises :class:`~aiorsocket.errors.MetadataError`):

* MT-1: a mime-type entry is empty.
* MT-2: a mime-type entry holds more than one item.  rsocket-java happens to
  read extra items; we refuse them, because "exactly one" is the whole
  contract and a second item could only be a mistake.
* MT-3: an item's MIME string runs past the end of the entry.
* MT-4: an item's MIME string is not US-ASCII.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import MetadataError
from ._wire import Buffer, TypeRef, encode_type_item, read_type_item
from .mimetypes import as_well_known


def encode_mime_type(mime: TypeRef) -> bytes:
    """The body of a mime-type entry; an int is sent as a well-known id, a str as a string."""
    return encode_type_item(mime, what="data MIME")


def encode_accept_mime_types(mimes: Iterable[TypeRef]) -> bytes:
    """The body of an accept-mime-types entry, items in order of preference."""
    return b"".join(encode_type_item(mime, what="accepted MIME") for mime in mimes)


def _read_item(view: memoryview, offset: int) -> tuple[TypeRef, int]:
    mime, end = read_type_item(view, offset, what="data MIME", truncated_rule="MT-3", ascii_rule="MT-4")
    return (as_well_known(mime) if isinstance(mime, int) else mime), end


def decode_mime_type(buf: Buffer) -> TypeRef:
    """The one data MIME of a mime-type entry body."""
    view = memoryview(buf)
    if not view:
        raise MetadataError("mime-type entry is empty", rule="MT-1")
    mime, end = _read_item(view, 0)
    if end != len(view):
        raise MetadataError(f"mime-type entry has {len(view) - end} bytes after its one item", rule="MT-2")
    return mime


def decode_accept_mime_types(buf: Buffer) -> list[TypeRef]:
    """Every data MIME of an accept-mime-types entry body, in order."""
    view = memoryview(buf)
    mimes: list[TypeRef] = []
    offset = 0
    while offset < len(view):
        mime, offset = _read_item(view, offset)
        mimes.append(mime)
    return mimes
