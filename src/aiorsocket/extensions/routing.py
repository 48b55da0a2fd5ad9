"""Routing tags: ``message/x.rsocket.routing.v0`` (checklist §5.2).

The entry body is a run of tags, each a u8 length (0..255) and that many bytes
of UTF-8.  By convention the first tag is the route; the responder may use or
ignore any of them.  An empty body decodes to no tags, as in rsocket-java.

Tags are not checked for NUL: no peer checks it, and refusing it would only
cost interop.

Rules enforced on decode (each raises :class:`~aiorsocket.errors.MetadataError`):

* RT-1: a tag's length runs past the end of the body.
* RT-2: a tag is not valid UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..errors import LocalProtocolError, MetadataError
from ._wire import Buffer, decode_utf8

MAX_TAG_LENGTH: Final = 255


def encode_tag(tag: str) -> bytes:
    raw = tag.encode("utf-8")
    if len(raw) > MAX_TAG_LENGTH:
        raise LocalProtocolError(f"routing tag is {len(raw)} bytes of UTF-8; the limit is 255")
    return bytes((len(raw),)) + raw


def encode_routing(tags: Iterable[str]) -> bytes:
    """A routing entry body holding ``tags`` in order (put the route first)."""
    return b"".join(encode_tag(tag) for tag in tags)


def decode_routing(buf: Buffer) -> list[str]:
    """The tags of a routing entry body, in order; the first is the route."""
    view = memoryview(buf)
    tags: list[str] = []
    offset = 0
    while offset < len(view):
        end = offset + 1 + view[offset]
        if end > len(view):
            raise MetadataError(
                f"routing tag of {view[offset]} bytes overruns the entry ({len(view) - offset - 1} left)",
                rule="RT-1",
            )
        tags.append(decode_utf8(view[offset + 1 : end], what="routing tag", rule="RT-2"))
        offset = end
    return tags
