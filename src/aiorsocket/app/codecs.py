"""Data codecs chosen by MIME type, and the per-stream choice of MIME (checklist §5.5).

Built in: JSON (orjson when installed, the standard library otherwise), CBOR
(``cbor2``), MessagePack (``msgpack``), text and raw bytes.  CBOR and
MessagePack are imported on first use; without them the error names the
``codecs`` extra to install.

A codec only maps bytes to plain values and back; typed bodies (dataclasses,
pydantic models...) are :mod:`aiorsocket.app.convert`'s job.  An empty body
decodes to None for the structured formats, which have no empty encoding:
that is how a request without data or an empty completion reads.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Sequence
from datetime import UTC
from functools import lru_cache
from typing import Any, ClassVar, Final

from ..errors import RSocketError
from ._optional import import_optional, is_installed
from .convert import to_builtins

JSON: Final = "application/json"
CBOR: Final = "application/cbor"
MSGPACK: Final = "application/x-msgpack"
TEXT: Final = "text/plain"
OCTET_STREAM: Final = "application/octet-stream"


class CodecError(RSocketError, ValueError):
    """Bytes that do not decode as their MIME says, a value the MIME cannot carry, or an unknown MIME."""


@lru_cache(maxsize=512)
def normalize_mime(mime: str) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``: parameters do not pick a codec."""
    return mime.split(";", 1)[0].strip().lower()


class Codec(abc.ABC):
    """Encodes values to one MIME type's bytes and back.

    Subclass it for other formats (protobuf, avro...) and register it with
    :meth:`Codecs.register`.
    """

    mime: ClassVar[str]
    #: Further MIME names this codec answers to (``application/msgpack``...).
    aliases: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def encode(self, value: Any) -> bytes: ...

    @abc.abstractmethod
    def decode(self, data: bytes) -> Any: ...

    def available(self) -> bool:
        """False when the library behind the codec is not installed."""
        return True

    def require(self) -> None:  # noqa: B027 - most codecs need no library, so this is no abstract method
        """Raise :class:`~aiorsocket.app.MissingExtraError` when the codec's library is missing."""


class JsonCodec(Codec):
    """JSON; uses orjson when it is installed (same compact output, several times faster)."""

    mime = JSON

    def __init__(self, *, use_orjson: bool | None = None) -> None:
        if use_orjson is None:
            use_orjson = is_installed("orjson")
        self._orjson: Any = (
            import_optional("orjson", package="orjson", extra="codecs", what="fast JSON")
            if use_orjson
            else None
        )

    def encode(self, value: Any) -> bytes:
        try:
            if self._orjson is not None:
                data: bytes = self._orjson.dumps(
                    value, default=to_builtins, option=self._orjson.OPT_NON_STR_KEYS
                )
                return data
            return json.dumps(value, default=to_builtins, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            raise CodecError(f"cannot encode as {JSON}: {exc}") from None

    def decode(self, data: bytes) -> Any:
        if not data:
            return None
        try:
            if self._orjson is not None:
                return self._orjson.loads(data)
            return json.loads(data)
        except ValueError as exc:
            raise CodecError(f"malformed {JSON}: {exc}") from None


class CborCodec(Codec):
    """CBOR (RFC 8949) through ``cbor2``; the format Spring Boot tries first."""

    mime = CBOR

    def _cbor2(self) -> Any:
        return import_optional("cbor2", package="cbor2", extra="codecs", what=CBOR)

    def available(self) -> bool:
        return is_installed("cbor2")

    def require(self) -> None:
        self._cbor2()

    def encode(self, value: Any) -> bytes:
        cbor2 = self._cbor2()
        try:
            data: bytes = cbor2.dumps(value, default=_cbor_default, timezone=UTC)
        except (cbor2.CBORError, TypeError, ValueError) as exc:
            raise CodecError(f"cannot encode as {CBOR}: {exc}") from None
        return data

    def decode(self, data: bytes) -> Any:
        if not data:
            return None
        cbor2 = self._cbor2()
        try:
            return cbor2.loads(data)
        except (cbor2.CBORError, ValueError, EOFError) as exc:
            raise CodecError(f"malformed {CBOR}: {exc}") from None


def _cbor_default(encoder: Any, value: Any) -> None:
    encoder.encode(to_builtins(value))


class MsgpackCodec(Codec):
    """MessagePack through ``msgpack``."""

    mime = MSGPACK
    aliases = ("application/msgpack", "application/vnd.msgpack")

    def _msgpack(self) -> Any:
        return import_optional("msgpack", package="msgpack", extra="codecs", what=MSGPACK)

    def available(self) -> bool:
        return is_installed("msgpack")

    def require(self) -> None:
        self._msgpack()

    def encode(self, value: Any) -> bytes:
        msgpack = self._msgpack()
        try:
            data: bytes = msgpack.packb(value, default=to_builtins, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"cannot encode as {MSGPACK}: {exc}") from None
        return data

    def decode(self, data: bytes) -> Any:
        if not data:
            return None
        msgpack = self._msgpack()
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as exc:
            # msgpack raises a handful of unrelated types (ExtraData, FormatError, StackError...).
            raise CodecError(f"malformed {MSGPACK}: {exc}") from None


class TextCodec(Codec):
    """UTF-8 text; also serves every other ``text/*`` MIME."""

    mime = TEXT

    def encode(self, value: Any) -> bytes:
        return (value if isinstance(value, str) else str(value)).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"malformed {TEXT}: {exc}") from None


class BytesCodec(Codec):
    """Raw bytes: what a connection without a known data MIME carries."""

    mime = OCTET_STREAM

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):
            return value.encode("utf-8")
        raise CodecError(f"{OCTET_STREAM} carries bytes or str, not {type(value).__name__}")

    def decode(self, data: bytes) -> Any:
        return data


_SUFFIXES: Final = {"+json": JSON, "+cbor": CBOR, "+msgpack": MSGPACK}


class Codecs:
    """The codecs one router or requester uses, by MIME type.

    Lookup takes the exact (parameter-free, lower-case) MIME first, then a
    structured-syntax suffix (``application/vnd.acme+json`` uses JSON), then
    the text codec for any ``text/*``.
    """

    def __init__(self, codecs: Iterable[Codec] | None = None) -> None:
        self._by_mime: dict[str, Codec] = {}
        for codec in (
            codecs
            if codecs is not None
            else (JsonCodec(), CborCodec(), MsgpackCodec(), TextCodec(), BytesCodec())
        ):
            self.register(codec)

    def register(self, codec: Codec, *mimes: str) -> None:
        """Use ``codec`` for its own MIME and aliases, and for ``mimes``; replaces earlier codecs."""
        for mime in (codec.mime, *codec.aliases, *mimes):
            self._by_mime[normalize_mime(mime)] = codec

    @property
    def mimes(self) -> list[str]:
        """Every MIME with an installed codec, in registration order."""
        return [mime for mime, codec in self._by_mime.items() if codec.available()]

    def find(self, mime: str) -> Codec | None:
        """The codec for ``mime``, or None (also when its library is not installed)."""
        codec = self._lookup(mime)
        return codec if codec is not None and codec.available() else None

    def _lookup(self, mime: str) -> Codec | None:
        key = normalize_mime(mime)
        codec = self._by_mime.get(key)
        if codec is not None:
            return codec
        for suffix, base in _SUFFIXES.items():
            if key.endswith(suffix):
                return self._by_mime.get(base)
        if key.startswith("text/"):
            return self._by_mime.get(TEXT)
        return None

    def get(self, mime: str) -> Codec:
        """The codec for ``mime``.

        An unknown MIME raises :class:`CodecError`, a codec whose library is not
        installed :class:`MissingExtraError`.
        """
        codec = self._lookup(mime)
        if codec is None:
            raise CodecError(f"no codec for data MIME {mime!r}; supported: {', '.join(self.mimes)}")
        codec.require()
        return codec

    def negotiate(self, request_mime: str, accept: Sequence[str]) -> str | None:
        """The data MIME for a response (checklist §5.5).

        The first accepted MIME we can encode wins; without accept-mime-types the
        response uses the request's MIME.  None: nothing accepted can be produced.
        """
        if not accept:
            return request_mime
        for mime in accept:
            if normalize_mime(mime) == normalize_mime(request_mime) or self.find(mime) is not None:
                return mime
        return None
