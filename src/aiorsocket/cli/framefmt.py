"""Frames as people read them, for ``aiorsocket frames decode`` and the client commands' ``--debug``.

On top of :func:`~aiorsocket.frames.describe.describe_frame` this decodes
composite metadata entries (routing tags, auth, per-stream MIMEs, tracing)
whenever the metadata is known, or in a dump without SETUP looks, to be composite.
Decoded credentials show as ``<hidden>`` because debug logs end up pasted into
bug reports; the hex stays byte-exact, so it still carries them.
"""

from __future__ import annotations

from typing import IO, Any, Final

from ..errors import MetadataError, ProtocolError
from ..extensions import (
    ACCEPT_MIME_TYPES_MIME,
    AUTHENTICATION_MIME,
    COMPOSITE_METADATA_MIME,
    DATA_MIME_TYPE_MIME,
    ROUTING_MIME,
    TRACING_ZIPKIN_MIME,
    BearerAuth,
    CompositeEntry,
    SimpleAuth,
    decode_accept_mime_types,
    decode_auth,
    decode_composite,
    decode_mime_type,
    decode_routing,
    decode_tracing,
)
from ..extensions.mimetypes import display_mime
from ..framelog import Direction
from ..frames import SetupFrame, decode_frame
from ..frames.describe import describe_frame, printable

HIDDEN: Final = "<hidden>"
#: ``--debug`` clips field values and hex past this many characters.
DEBUG_LIMIT: Final = 2048
_HEADER_KEYS: Final = frozenset({"type", "stream_id", "flags", "hex", "metadata_entries"})


def describe_composite(metadata: bytes) -> list[dict[str, Any]]:
    """One dict per entry: ``mime`` plus the decoded value.

    Raises MetadataError when the entry list itself is broken; an entry whose
    content does not decode gets ``error`` and its ``content`` in hex instead.
    """
    described: list[dict[str, Any]] = []
    for entry in decode_composite(metadata):
        name = entry.mime_name
        item: dict[str, Any] = {"mime": name if name is not None else f"{entry.mime:#04x}"}
        try:
            item.update(_decode_entry(entry))
        except MetadataError as exc:
            item.update(error=str(exc), content="0x" + entry.content.hex())
        described.append(item)
    return described


def _decode_entry(entry: CompositeEntry) -> dict[str, Any]:
    content = entry.content
    if entry.is_mime(ROUTING_MIME):
        return {"tags": decode_routing(content)}
    if entry.is_mime(AUTHENTICATION_MIME):
        auth = decode_auth(content)
        if isinstance(auth, SimpleAuth):
            return {"auth": "simple", "username": auth.username, "password": HIDDEN}
        if isinstance(auth, BearerAuth):
            return {"auth": "bearer", "token": HIDDEN}
        return {"auth": auth.auth_type, "payload": HIDDEN}
    if entry.is_mime(DATA_MIME_TYPE_MIME):
        return {"data_mime": display_mime(decode_mime_type(content))}
    if entry.is_mime(ACCEPT_MIME_TYPES_MIME):
        return {"accept": [display_mime(mime) for mime in decode_accept_mime_types(content)]}
    if entry.is_mime(TRACING_ZIPKIN_MIME):
        tracing = decode_tracing(content)
        fields = {
            "sampling": tracing.sampling.name,
            "trace_id": tracing.trace_id,
            "span_id": tracing.span_id,
            "parent_span_id": tracing.parent_span_id,
        }
        return {key: f"{value:x}" if isinstance(value, int) else value for key, value in fields.items()}
    return {"content": printable(content)}


def looks_composite(metadata: bytes) -> bool:
    """True when ``metadata`` parses as composite entries whose every MIME is a known id or a MIME string."""
    try:
        entries = decode_composite(metadata)
    except MetadataError:
        return False
    return bool(entries) and all(entry.mime_name is not None and "/" in entry.mime_name for entry in entries)


def describe_wire_frame(frame: bytes, metadata_mime: str | None) -> dict[str, Any]:
    """A JSON-ready description of one frame (no length prefix), with ``hex``.

    ``metadata_mime`` is the connection's (from its SETUP); None means unknown, in
    which case metadata is shown as composite only when it looks like composite.
    A frame that does not decode gives ``error``, ``rule`` and ``hex``.
    """
    try:
        decoded = decode_frame(frame)
    except ProtocolError as exc:
        return {"error": exc.message, "rule": exc.rule, "hex": frame.hex()}
    described = describe_frame(decoded)
    metadata = getattr(decoded, "metadata", None)
    mime = decoded.metadata_mime if isinstance(decoded, SetupFrame) else metadata_mime
    if metadata and (mime == COMPOSITE_METADATA_MIME or (mime is None and looks_composite(metadata))):
        try:
            described["metadata_entries"] = describe_composite(metadata)
        except MetadataError as exc:
            described["metadata_error"] = str(exc)
    described["hex"] = frame.hex()
    return described


def _clip(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters in all)"


def _entry_line(entry: dict[str, Any]) -> str:
    parts = [str(entry["mime"])]
    for key, value in entry.items():
        if key != "mime":
            shown = ",".join(str(item) for item in value) if isinstance(value, list) else value
            parts.append(f"{key}={shown}")
    return " ".join(parts)


def format_frame(heading: str, described: dict[str, Any], *, limit: int | None = None) -> str:
    """Several lines: ``heading TYPE stream=N flags=A|B``, one line per field, composite entries, hex.

    ``limit`` clips long field values and the hex (``--debug`` of a 16 MiB payload
    would otherwise flood the terminal); the offline decoder shows everything.
    """
    if "error" in described:
        return (
            f"{heading} MALFORMED: {described['error']} [{described['rule']}]\n"
            f"    hex: {_clip(described['hex'], limit)}"
        )
    flags = "|".join(described["flags"]) or "-"
    lines = [f"{heading} {described['type']} stream={described['stream_id']} flags={flags}"]
    for key, value in described.items():
        if key in _HEADER_KEYS:
            continue
        if key == "metadata" and "metadata_entries" in described:
            lines.append("    metadata: composite")
            lines.extend(f"      {_entry_line(entry)}" for entry in described["metadata_entries"])
            continue
        lines.append(f"    {key}: {_clip(str(value), limit)}".rstrip())
    lines.append(f"    hex: {_clip(described['hex'], limit)}")
    return "\n".join(lines)


class DebugLog:
    """The ``frame_logger`` behind ``--debug``: frames decoded (``>>`` sent, ``<<`` received) plus hex."""

    def __init__(self, metadata_mime: str, out: IO[str], *, limit: int = DEBUG_LIMIT) -> None:
        self._metadata_mime = metadata_mime
        self._out = out
        self._limit = limit

    def __call__(self, direction: Direction, frame: bytes) -> None:
        heading = ">>" if direction == "send" else "<<"
        described = describe_wire_frame(frame, self._metadata_mime)
        self._out.write(format_frame(heading, described, limit=self._limit) + "\n")
        self._out.flush()
