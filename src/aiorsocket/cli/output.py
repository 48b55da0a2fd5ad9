"""How the client commands print payloads, and the item counter a long stream shows on a terminal.

Formats (``-o``):

* ``auto``: one line per payload.  JSON and text print as they are; CBOR
  (``--data-mime cbor``) prints as compact JSON; text with line breaks or
  control characters is escaped (``\\n``, ``\\t``, ``\\x1b``) so that a payload
  never spans two lines; bytes that are not UTF-8 print as ``0x`` + hex.
* ``text``: the data decoded as UTF-8, unescaped.
* ``json``: pretty JSON (indented); data that is not JSON falls back to ``auto``.
* ``hex``: the data as hex digits.
* ``raw``: the bytes exactly, nothing added (for binary data piped into a file).

``--show-metadata`` puts the metadata (composite entries as a JSON list) and a
tab in front of each payload.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import IO, Any, Final

from ..errors import MetadataError
from ..extensions.mimetypes import COMPOSITE_METADATA_MIME
from ..payload import Payload
from .framefmt import describe_composite

CBOR_MIME: Final = "application/cbor"
_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
#: What a payload that does not parse as JSON (or CBOR) decodes to.
_NOT_STRUCTURED: Final[Any] = object()

#: The counter appears once a stream has run this long, and redraws at most this often (seconds).
PROGRESS_DELAY: Final = 0.5
PROGRESS_EVERY: Final = 0.2


class OutputClosedError(Exception):
    """Whoever read our output went away (``| head``): stop quietly."""


def escape_line(text: str) -> str:
    """``text`` as one line: printable text unchanged, else control characters and backslashes escaped."""
    if text.isprintable():
        return text
    return "".join(_escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    escaped = _ESCAPES.get(char)
    if escaped is not None:
        return escaped
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class PayloadPrinter:
    """Writes each payload to ``out`` (a binary stream) in the chosen format."""

    def __init__(
        self,
        out: IO[bytes],
        *,
        fmt: str,
        show_metadata: bool,
        data_mime: str,
        metadata_mime: str,
        warn: Callable[[str], None],
    ) -> None:
        self._out = out
        self._fmt = fmt
        self._show_metadata = show_metadata
        self._cbor: Any = None
        if data_mime == CBOR_MIME:
            # Loaded only for CBOR: the app layer and cbor2 would slow every other command's start.
            from ..app.codecs import CborCodec

            self._cbor = CborCodec()
        self._composite_metadata = metadata_mime == COMPOSITE_METADATA_MIME
        self._warn = warn
        self._warned = False

    def write(self, payload: Payload) -> None:
        if self._fmt == "raw":
            chunk = payload.data
        else:
            line = self.render_data(payload.data)
            if self._show_metadata:
                line = f"{self.render_metadata(payload.metadata)}\t{line}"
            chunk = line.encode("utf-8", "backslashreplace") + b"\n"
        try:
            self._out.write(chunk)
            self._out.flush()
        except BrokenPipeError:
            raise OutputClosedError from None

    def render_data(self, data: bytes) -> str:
        fmt = self._fmt
        if fmt == "hex":
            return data.hex()
        if fmt == "text":
            return data.decode("utf-8", "replace")
        if fmt == "json":
            value = self._structured(data)
            if value is not _NOT_STRUCTURED:
                return json.dumps(value, indent=2, ensure_ascii=False, default=str)
            if not self._warned:
                self._warned = True
                self._warn("a payload is not JSON; printing such payloads as with -o auto")
        return self._auto(data)

    def render_metadata(self, metadata: bytes | None) -> str:
        if not metadata:
            return ""
        if self._composite_metadata:
            try:
                return json.dumps(describe_composite(metadata), ensure_ascii=False)
            except MetadataError:
                pass
        return self._auto_text(metadata)

    def _auto(self, data: bytes) -> str:
        if self._cbor is not None and data:
            value = self._structured(data)
            if value is not _NOT_STRUCTURED:
                return json.dumps(value, ensure_ascii=False, default=str)
        return self._auto_text(data)

    @staticmethod
    def _auto_text(data: bytes) -> str:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + data.hex()
        return escape_line(text)

    def _structured(self, data: bytes) -> Any:
        try:
            if self._cbor is not None:
                return self._cbor.decode(data)
            return json.loads(data)
        except ValueError:
            return _NOT_STRUCTURED


class Progress:
    """``N items  R/s`` on one self-rewriting stderr line, for streams that last long enough to want it."""

    def __init__(self, stream: IO[str], clock: Callable[[], float], *, share_line_with_stdout: bool) -> None:
        self._stream = stream
        self._clock = clock
        self._share = share_line_with_stdout
        self._start = clock()
        self._next_draw = self._start + PROGRESS_DELAY
        self._visible = False
        self._shown = False
        self._count = 0

    def before_output(self) -> None:
        """Wipe the counter so a payload line written to the same terminal starts clean."""
        if self._visible and self._share:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._visible = False

    def tick(self, count: int) -> None:
        self._count = count
        now = self._clock()
        if now < self._next_draw:
            return
        self._next_draw = now + PROGRESS_EVERY
        self._stream.write(f"\r\x1b[K{count} items  {count / (now - self._start):,.0f}/s")
        self._stream.flush()
        self._visible = self._shown = True

    def finish(self) -> None:
        """Replace the counter with a summary, if it was ever shown."""
        if not self._shown:
            return
        elapsed = max(self._clock() - self._start, 1e-9)
        self._stream.write(
            f"\r\x1b[K{self._count} items in {elapsed:.1f} s ({self._count / elapsed:,.0f}/s)\n"
        )
        self._stream.flush()
        self._visible = False


def stderr_warning(prefix: str) -> Callable[[str], None]:
    def warn(message: str) -> None:
        print(f"{prefix}: {message}", file=sys.stderr)

    return warn
