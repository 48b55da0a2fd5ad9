"""Hypothesis strategies for the extension codecs: values, and well-formed bytes built by hand.

The byte strategies assemble the wire format directly (not through our
encoders), so ``encode(decode(b)) == b`` checks the encoder against an
independent reading of checklist §5.
"""

from __future__ import annotations

from hypothesis import strategies as st

from aiorsocket.extensions import (
    BearerAuth,
    CompositeEntry,
    CustomAuth,
    Sampling,
    SimpleAuth,
    TracingMetadata,
)
from aiorsocket.extensions.auth import Auth
from aiorsocket.extensions.mimetypes import as_well_known

ASCII = st.characters(max_codepoint=0x7F)
#: D-1: 1..128 bytes of US-ASCII.
MIME_STRINGS = st.text(alphabet=ASCII, min_size=1, max_size=128)
MIME_IDS = st.integers(0, 0x7F).map(as_well_known)
TYPE_REFS: st.SearchStrategy[str | int] = st.one_of(MIME_IDS, MIME_STRINGS)
CONTENT = st.binary(max_size=48)

ENTRIES = st.builds(CompositeEntry, TYPE_REFS, CONTENT)

#: 63 characters of at most 4 UTF-8 bytes each always fit the 255-byte limit.
TAGS = st.text(max_size=63)

AUTHS: st.SearchStrategy[Auth] = st.one_of(
    st.builds(SimpleAuth, st.text(max_size=20), st.text(max_size=20)),
    st.builds(BearerAuth, st.text(max_size=40)),
    st.builds(CustomAuth, st.one_of(st.integers(2, 0x7F), MIME_STRINGS), CONTENT),
)

U64 = st.integers(0, 2**64 - 1)
SAMPLINGS = st.sampled_from(Sampling)


@st.composite
def tracings(draw: st.DrawFn) -> TracingMetadata:
    sampling = draw(SAMPLINGS)
    if not draw(st.booleans()):
        return TracingMetadata(sampling)
    wide = draw(st.booleans())
    return TracingMetadata(
        sampling,
        trace_id=draw(st.integers(0, 2**128 - 1) if wide else U64),
        span_id=draw(U64),
        parent_span_id=draw(st.none() | U64),
        trace_id_128=wide,
    )


# --- well-formed bytes, written straight from the wire layout ---------------------


def _string_item(raw: bytes) -> bytes:
    return bytes((len(raw) - 1,)) + raw  # D-1


TYPE_ITEM_BYTES = st.one_of(
    st.integers(0, 0x7F).map(lambda i: bytes((0x80 | i,))),
    st.binary(min_size=1, max_size=128).map(lambda raw: bytes(b & 0x7F for b in raw)).map(_string_item),
)

COMPOSITE_BYTES = st.lists(st.tuples(TYPE_ITEM_BYTES, CONTENT), max_size=5).map(
    lambda items: b"".join(head + len(body).to_bytes(3, "big") + body for head, body in items)
)

ROUTING_BYTES = st.lists(TAGS.map(lambda tag: tag.encode()), max_size=5).map(
    lambda tags: b"".join(bytes((len(tag),)) + tag for tag in tags)
)

UTF8 = st.text(max_size=20).map(str.encode)
AUTH_BYTES = st.one_of(
    st.tuples(UTF8, UTF8).map(lambda up: b"\x80" + len(up[0]).to_bytes(2, "big") + up[0] + up[1]),
    UTF8.map(lambda token: b"\x81" + token),
    st.tuples(st.integers(2, 0x7F), CONTENT).map(lambda t: bytes((0x80 | t[0],)) + t[1]),
    st.tuples(st.binary(min_size=1, max_size=128).map(lambda raw: bytes(b & 0x7F for b in raw)), CONTENT).map(
        lambda t: _string_item(t[0]) + t[1]
    ),
)

ACCEPT_BYTES = st.lists(TYPE_ITEM_BYTES, max_size=5).map(b"".join)


@st.composite
def tracing_bytes(draw: st.DrawFn) -> bytes:
    flags = draw(st.sampled_from([0x00, 0x10, 0x20, 0x40]))
    if not draw(st.booleans()):
        return bytes((flags,))
    flags |= 0x80
    trace = draw(st.binary(min_size=8, max_size=8) | st.binary(min_size=16, max_size=16))
    if len(trace) == 16:
        flags |= 0x08
    parent = draw(st.just(b"") | st.binary(min_size=8, max_size=8))
    if parent:
        flags |= 0x04
    return bytes((flags,)) + trace + draw(st.binary(min_size=8, max_size=8)) + parent
