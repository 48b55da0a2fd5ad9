"""Well-known MIME type ids (checklist §5.3) and the choice between id and string form.

Ids are only a compact encoding: the string form of any MIME stays valid
everywhere, and an id this table does not know (0x2B..0x79 today) must still
decode, so decoders keep such ids as plain ints ("unknown reserved") instead of
failing.

D-19: rsocket-java's table stops at 0x28, so a Java peer cannot read 0x29
(capnp) or 0x2A (flatbuffers) sent as ids.  Encoders therefore take a
:class:`CompactIds` policy; the default, ``JAVA_KNOWN``, sends an id only when
rsocket-java knows it and the string form otherwise.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Final

from ._wire import TypeRef


class WellKnownMimeType(IntEnum):
    """The 7-bit well-known MIME ids; ``.mime`` is the MIME string."""

    APPLICATION_AVRO = 0x00
    APPLICATION_CBOR = 0x01
    APPLICATION_GRAPHQL = 0x02
    APPLICATION_GZIP = 0x03
    APPLICATION_JAVASCRIPT = 0x04
    APPLICATION_JSON = 0x05
    APPLICATION_OCTET_STREAM = 0x06
    APPLICATION_PDF = 0x07
    APPLICATION_THRIFT = 0x08
    APPLICATION_PROTOBUF = 0x09
    APPLICATION_XML = 0x0A
    APPLICATION_ZIP = 0x0B
    AUDIO_AAC = 0x0C
    AUDIO_MP3 = 0x0D
    AUDIO_MP4 = 0x0E
    AUDIO_MPEG3 = 0x0F
    AUDIO_MPEG = 0x10
    AUDIO_OGG = 0x11
    AUDIO_OPUS = 0x12
    AUDIO_VORBIS = 0x13
    IMAGE_BMP = 0x14
    IMAGE_GIF = 0x15
    IMAGE_HEIC_SEQUENCE = 0x16
    IMAGE_HEIC = 0x17
    IMAGE_HEIF_SEQUENCE = 0x18
    IMAGE_HEIF = 0x19
    IMAGE_JPEG = 0x1A
    IMAGE_PNG = 0x1B
    IMAGE_TIFF = 0x1C
    MULTIPART_MIXED = 0x1D
    TEXT_CSS = 0x1E
    TEXT_CSV = 0x1F
    TEXT_HTML = 0x20
    TEXT_PLAIN = 0x21
    TEXT_XML = 0x22
    VIDEO_H264 = 0x23
    VIDEO_H265 = 0x24
    VIDEO_VP8 = 0x25
    APPLICATION_HESSIAN = 0x26
    APPLICATION_JAVA_OBJECT = 0x27
    APPLICATION_CLOUDEVENTS_JSON = 0x28
    APPLICATION_CAPNP = 0x29
    APPLICATION_FLATBUFFERS = 0x2A
    MESSAGE_RSOCKET_MIMETYPE = 0x7A
    MESSAGE_RSOCKET_ACCEPT_MIMETYPES = 0x7B
    MESSAGE_RSOCKET_AUTHENTICATION = 0x7C
    MESSAGE_RSOCKET_TRACING_ZIPKIN = 0x7D
    MESSAGE_RSOCKET_ROUTING = 0x7E
    MESSAGE_RSOCKET_COMPOSITE_METADATA = 0x7F

    @property
    def mime(self) -> str:
        return _NAME_BY_ID[self.value]


_NAME_BY_ID: Final[dict[int, str]] = {
    0x00: "application/avro",
    0x01: "application/cbor",
    0x02: "application/graphql",
    0x03: "application/gzip",
    0x04: "application/javascript",
    0x05: "application/json",
    0x06: "application/octet-stream",
    0x07: "application/pdf",
    0x08: "application/vnd.apache.thrift.binary",
    0x09: "application/vnd.google.protobuf",
    0x0A: "application/xml",
    0x0B: "application/zip",
    0x0C: "audio/aac",
    0x0D: "audio/mp3",
    0x0E: "audio/mp4",
    0x0F: "audio/mpeg3",
    0x10: "audio/mpeg",
    0x11: "audio/ogg",
    0x12: "audio/opus",
    0x13: "audio/vorbis",
    0x14: "image/bmp",
    0x15: "image/gif",
    0x16: "image/heic-sequence",
    0x17: "image/heic",
    0x18: "image/heif-sequence",
    0x19: "image/heif",
    0x1A: "image/jpeg",
    0x1B: "image/png",
    0x1C: "image/tiff",
    0x1D: "multipart/mixed",
    0x1E: "text/css",
    0x1F: "text/csv",
    0x20: "text/html",
    0x21: "text/plain",
    0x22: "text/xml",
    0x23: "video/H264",
    0x24: "video/H265",
    0x25: "video/VP8",
    0x26: "application/x-hessian",
    0x27: "application/x-java-object",
    0x28: "application/cloudevents+json",
    0x29: "application/x-capnp",
    0x2A: "application/x-flatbuffers",
    0x7A: "message/x.rsocket.mime-type.v0",
    0x7B: "message/x.rsocket.accept-mime-types.v0",
    0x7C: "message/x.rsocket.authentication.v0",
    0x7D: "message/x.rsocket.tracing-zipkin.v0",
    0x7E: "message/x.rsocket.routing.v0",
    0x7F: "message/x.rsocket.composite-metadata.v0",
}
# Matching is exact, as in rsocket-java: "video/h264" is sent as a string,
# never silently rewritten to the table's "video/H264".
_ID_BY_NAME: Final[dict[str, int]] = {name: mime_id for mime_id, name in _NAME_BY_ID.items()}

#: Highest id of the first block that rsocket-java knows (D-19).
JAVA_MAX_ID: Final = 0x28

ROUTING_MIME: Final = WellKnownMimeType.MESSAGE_RSOCKET_ROUTING.mime
AUTHENTICATION_MIME: Final = WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION.mime
TRACING_ZIPKIN_MIME: Final = WellKnownMimeType.MESSAGE_RSOCKET_TRACING_ZIPKIN.mime
DATA_MIME_TYPE_MIME: Final = WellKnownMimeType.MESSAGE_RSOCKET_MIMETYPE.mime
ACCEPT_MIME_TYPES_MIME: Final = WellKnownMimeType.MESSAGE_RSOCKET_ACCEPT_MIMETYPES.mime
COMPOSITE_METADATA_MIME: Final = WellKnownMimeType.MESSAGE_RSOCKET_COMPOSITE_METADATA.mime


class CompactIds(Enum):
    """Which well-known MIMEs an encoder sends as ids rather than strings."""

    #: Ids rsocket-java knows (0x00..0x28 and 0x7A..0x7F); the safe default (D-19).
    JAVA_KNOWN = "java-known"
    #: Every id in :class:`WellKnownMimeType`.
    ALL = "all"
    #: Never an id: always the string form.
    NONE = "none"

    def allows(self, mime_id: int) -> bool:
        if mime_id not in _NAME_BY_ID or self is CompactIds.NONE:
            return False
        return (
            self is CompactIds.ALL
            or mime_id <= JAVA_MAX_ID
            or mime_id >= WellKnownMimeType.MESSAGE_RSOCKET_MIMETYPE
        )


def mime_id(name: str) -> int | None:
    """The well-known id of the MIME string ``name``, or None."""
    return _ID_BY_NAME.get(name)


def mime_name(mime_id: int) -> str | None:
    """The MIME string of a well-known id, or None for an unknown reserved id."""
    return _NAME_BY_ID.get(mime_id)


def as_well_known(mime_id: int) -> TypeRef:
    """``mime_id`` as a :class:`WellKnownMimeType` when the table has it, else the plain int."""
    return WellKnownMimeType(mime_id) if mime_id in _NAME_BY_ID else mime_id


def mime_wire_form(mime: TypeRef, compact: CompactIds = CompactIds.JAVA_KNOWN) -> TypeRef:
    """The form an encoder should send ``mime`` in, under the ``compact`` policy.

    Known MIMEs become ids or strings as the policy says, whichever form they
    were given in; ids the table does not know stay ids, because there is no
    string to send instead.
    """
    known = mime if isinstance(mime, int) else _ID_BY_NAME.get(mime)
    if known is None or known not in _NAME_BY_ID:
        return mime
    return WellKnownMimeType(known) if compact.allows(known) else _NAME_BY_ID[known]


def display_mime(mime: TypeRef) -> TypeRef:
    """The MIME string for any known id or string; unknown reserved ids stay ints."""
    if isinstance(mime, int):
        return _NAME_BY_ID.get(mime, mime)
    return mime
