"""Composite metadata: ``message/x.rsocket.composite-metadata.v0`` (checklist §5.1).

A buffer holds zero or more entries, each a type item (well-known id, or
length-1 + US-ASCII MIME string, D-1), a u24 length and that many bytes.
Entry order is kept and the same MIME may repeat.  Entries whose MIME we do
not understand, including ids past the known table, decode like any other so
callers can skip them and re-encoding gives back the same bytes.

D-8: this codec does not care which frame the metadata came from; parse it
wherever the connection's metadata MIME is composite.

Rules enforced on decode (each raises :class:`~aiorsocket.errors.MetadataError`):

* CM-1: an entry's u24 length runs past the end of the buffer.
* CM-2: an entry header is cut short (the custom MIME string or the u24
  length does not fit in what is left).
* CM-3: a custom MIME string is not US-ASCII.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import LocalProtocolError, MetadataError
from ._wire import MAX_U24, Buffer, TypeRef, encode_type_item, read_type_item
from .mimetypes import CompactIds, as_well_known, mime_name, mime_wire_form

_LENGTH_SIZE = 3


@dataclass(frozen=True, slots=True)
class CompositeEntry:
    """One composite metadata entry, exactly as it travels.

    ``mime`` is a string when the MIME is (or is to be) sent as a string, and
    an int (a :class:`~aiorsocket.extensions.WellKnownMimeType` when the table
    knows it) when it is sent as a well-known id.  Use :meth:`of` to let the
    :class:`CompactIds` policy pick the form.
    """

    mime: TypeRef
    content: bytes = b""

    @classmethod
    def of(
        cls, mime: TypeRef, content: bytes = b"", *, compact: CompactIds = CompactIds.JAVA_KNOWN
    ) -> CompositeEntry:
        return cls(mime_wire_form(mime, compact), content)

    @property
    def mime_id(self) -> int | None:
        """The well-known id the entry was sent with, or None for a string MIME."""
        return self.mime if isinstance(self.mime, int) else None

    @property
    def mime_name(self) -> str | None:
        """The MIME string, whichever form it was sent in; None for an unknown reserved id."""
        return self.mime if isinstance(self.mime, str) else mime_name(self.mime)

    def is_mime(self, mime: TypeRef) -> bool:
        """Whether this entry has ``mime``, comparing by name so id and string forms match."""
        wanted = mime if isinstance(mime, str) else mime_name(mime)
        if wanted is None:
            # An unknown reserved id has no name; only the same id can match it.
            return self.mime_id == mime
        return self.mime_name == wanted


def encode_entry(entry: CompositeEntry) -> bytes:
    if len(entry.content) > MAX_U24:
        raise LocalProtocolError(f"composite entry of {len(entry.content)} bytes does not fit a u24 length")
    header = encode_type_item(entry.mime, what="composite metadata MIME")
    return header + len(entry.content).to_bytes(_LENGTH_SIZE, "big") + entry.content


def encode_composite(entries: Iterable[CompositeEntry]) -> bytes:
    """Composite metadata holding ``entries`` in order."""
    return b"".join(encode_entry(entry) for entry in entries)


def iter_composite(buf: Buffer) -> Iterator[CompositeEntry]:
    """Yield entries one at a time; a malformed entry raises when reached.

    Entries before the fault have already been yielded, so a caller that only
    needs the first few never pays for (or fails on) the rest.
    """
    view = memoryview(buf)
    offset = 0
    while offset < len(view):
        raw_mime, offset = read_type_item(
            view, offset, what="composite metadata MIME", truncated_rule="CM-2", ascii_rule="CM-3"
        )
        if offset + _LENGTH_SIZE > len(view):
            raise MetadataError(
                f"composite entry length needs 3 bytes, {len(view) - offset} left", rule="CM-2"
            )
        length = int.from_bytes(view[offset : offset + _LENGTH_SIZE], "big")
        offset += _LENGTH_SIZE
        end = offset + length
        if end > len(view):
            raise MetadataError(
                f"composite entry of {length} bytes overruns the buffer ({len(view) - offset} left)",
                rule="CM-1",
            )
        mime = as_well_known(raw_mime) if isinstance(raw_mime, int) else raw_mime
        yield CompositeEntry(mime, bytes(view[offset:end]))
        offset = end


def decode_composite(buf: Buffer) -> list[CompositeEntry]:
    """Every entry of composite metadata ``buf``, in order."""
    return list(iter_composite(buf))
