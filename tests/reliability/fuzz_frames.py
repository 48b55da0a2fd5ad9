"""Long fuzz run of the frame decoder and the u24 deframer (checklist §1, §3.1-3.2, §4).

Run it standalone::

    python tests/reliability/fuzz_frames.py --count 1000000 --seed 1 [--max-seconds 1800]

or in-process through :func:`run_fuzz` (``test_fuzz_frames_smoke.py`` does, so CI
exercises the same engine).  Every input is derived from ``(seed, index)`` alone, so
``--seed S --index I`` replays one input exactly.

Inputs mix:

* ``random``   random bytes;
* ``typed``    a 6-byte header of a known frame type, random flags and stream id, random body;
* ``valid``    an encoded valid frame of any of the 15 types (must decode to an equal value);
* ``mutated``  an encoded valid frame with 1-3 mutations (bit flips, truncation, extension,
  splices, type/flag rewrites, length fields overwritten, reserved bits set, stream id rewritten);
* ``deframer`` several length-prefixed frames (valid, mutated or random; the stream sometimes
  corrupted, the frame-size limit sometimes tiny) fed to :class:`Deframer` in random chunks of
  bytes/bytearray/memoryview, checked against a reference deframer, then decoded;
* ``extension`` random bytes, and well-formed extension bodies with 0-3 mutations, for every
  ``decode*`` / ``parse*`` function of ``aiorsocket.extensions`` that takes bytes (when present);
  they may raise only ``MetadataError``, and what decodes must round trip through its ``encode*``.

The invariants checked on every input:

* the only exceptions out of ``decode_frame`` and ``Deframer.feed`` are
  :class:`aiorsocket.errors.ProtocolError` subclasses (``MetadataError`` for extension decoders);
* a decoded frame re-encodes, decodes to an equal frame of the same class, and that encoding is
  canonical (encode(decode(encode(f))) == encode(f));
* the re-encoding is exactly the input with reserved bits (FL-3) and undefined flags (FL-5)
  cleared and the ignored tail of fixed-size frames (U-1) dropped, so nothing is silently lost;
* a valid frame decodes to exactly itself;
* bytes, bytearray and memoryview inputs give the same outcome;
* the deframer yields exactly what a reference splitter yields, whatever the chunking, never
  aliasing a caller's mutable buffer, and reports the rest as ``buffered``.

Exit status 0 when nothing foreign escaped and every invariant held; on the first failure the
input is printed as hex with a traceback and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import pkgutil
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for `support`

from aiorsocket.errors import FrameTooLargeError, LocalProtocolError, MetadataError, ProtocolError
from aiorsocket.frames import (
    MAX_FRAME_SIZE,
    CancelFrame,
    Deframer,
    ErrorFrame,
    ExtFrame,
    Frame,
    FrameType,
    KeepaliveFrame,
    LeaseFrame,
    MetadataPushFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    ResumeFrame,
    ResumeOkFrame,
    SetupFrame,
    decode_frame,
    encode_frame,
)
from support.frame_oracle import canonical_form, length_fields, reference_split, reserved_bit_offsets

MAX_U31 = 0x7FFFFFFF
MAX_U63 = 0x7FFFFFFFFFFFFFFF
KNOWN_TYPES = [int(t) for t in FrameType if t is not FrameType.RESERVED]
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)


class InvariantViolation(Exception):
    """A round trip, reference-model or consistency check did not hold."""


@dataclass
class FuzzFailure:
    index: int
    kind: str
    input_hex: str
    detail: str
    traceback: str


@dataclass
class FuzzReport:
    seed: int
    inputs: int = 0
    seconds: float = 0.0
    by_kind: Counter[str] = field(default_factory=Counter)
    decode_calls: int = 0
    decoded_ok: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    """``ErrorClass/rule`` -> count, for decode_frame and the deframer."""
    ignorable: int = 0
    extension_calls: int = 0
    extension_ok: int = 0
    extension_rejected: Counter[str] = field(default_factory=Counter)
    extension_decoders: list[str] = field(default_factory=list)
    stopped_by_time: bool = False
    failure: FuzzFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def summary_line(self) -> str:
        kinds = " ".join(f"{k}={v}" for k, v in sorted(self.by_kind.items()))
        rejected = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items(), key=lambda kv: -kv[1]))
        parts = [
            f"SUMMARY seed={self.seed} inputs={self.inputs} ({kinds})",
            f"decode_calls={self.decode_calls} decoded_ok={sum(self.decoded_ok.values())}",
            f"rejected={sum(self.rejected.values())} [{rejected}] (ignorable={self.ignorable})",
        ]
        if self.extension_decoders:
            ext = ", ".join(f"{k}={v}" for k, v in sorted(self.extension_rejected.items()))
            parts.append(
                f"extension_calls={self.extension_calls} extension_ok={self.extension_ok} "
                f"extension_rejected=[{ext}]"
            )
        parts.append(f"foreign={0 if self.failure is None else 1}")
        parts.append(f"seconds={self.seconds:.1f}" + (" (time limit)" if self.stopped_by_time else ""))
        return " ".join(parts)


# ---------------------------------------------------------------------------
# Valid frames from a random.Random
# ---------------------------------------------------------------------------


def _int(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform in lo..hi, biased towards the boundaries."""
    r = rng.random()
    if r < 0.12:
        return lo
    if r < 0.24:
        return hi
    if r < 0.30:
        return min(lo + 1, hi)
    if r < 0.36:
        return max(hi - 1, lo)
    return rng.randint(lo, hi)


def _blob(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.2:
        return b""
    if r < 0.92:
        return rng.randbytes(rng.randint(1, 24))
    return rng.randbytes(rng.randint(25, 600))


def _maybe_blob(rng: random.Random) -> bytes | None:
    return None if rng.random() < 0.35 else _blob(rng)


_MIMES = ("application/json", "message/x.rsocket.composite-metadata.v0", "text/plain", "application/cbor")


def _mime(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.1:
        return ""
    if r < 0.6:
        return rng.choice(_MIMES)
    if r < 0.65:
        return "x" * 255
    return "".join(chr(c) for c in rng.choices(range(0x20, 0x7F), k=rng.randint(1, 40)))


def _stream_id(rng: random.Random) -> int:
    return _int(rng, 1, MAX_U31)


def _bool(rng: random.Random) -> bool:
    return rng.random() < 0.5


def _setup(rng: random.Random) -> Frame:
    return SetupFrame(
        keepalive_interval=_int(rng, 1, MAX_U31),
        max_lifetime=_int(rng, 1, MAX_U31),
        metadata_mime=_mime(rng),
        data_mime=_mime(rng),
        data=_blob(rng),
        metadata=_maybe_blob(rng),
        resume_token=_maybe_blob(rng),
        lease=_bool(rng),
        major=_int(rng, 0, 0xFFFF),
        minor=_int(rng, 0, 0xFFFF),
    )


FRAME_BUILDERS: dict[str, Callable[[random.Random], Frame]] = {
    "SETUP": _setup,
    "LEASE": lambda r: LeaseFrame(_int(r, 0, MAX_U31), _int(r, 0, MAX_U31), _maybe_blob(r)),
    "KEEPALIVE": lambda r: KeepaliveFrame(_int(r, 0, MAX_U63), _blob(r), _bool(r)),
    "REQUEST_RESPONSE": lambda r: RequestResponseFrame(_stream_id(r), _blob(r), _maybe_blob(r), _bool(r)),
    "REQUEST_FNF": lambda r: RequestFnfFrame(_stream_id(r), _blob(r), _maybe_blob(r), _bool(r)),
    "REQUEST_STREAM": lambda r: RequestStreamFrame(
        _stream_id(r), _int(r, 1, MAX_U31), _blob(r), _maybe_blob(r), _bool(r)
    ),
    "REQUEST_CHANNEL": lambda r: RequestChannelFrame(
        _stream_id(r), _int(r, 1, MAX_U31), _blob(r), _maybe_blob(r), _bool(r), _bool(r)
    ),
    "REQUEST_N": lambda r: RequestNFrame(_stream_id(r), _int(r, 1, MAX_U31)),
    "CANCEL": lambda r: CancelFrame(_stream_id(r)),
    "PAYLOAD": lambda r: PayloadFrame(_stream_id(r), _blob(r), _maybe_blob(r), _bool(r), _bool(r), _bool(r)),
    "ERROR": lambda r: ErrorFrame(_int(r, 0, MAX_U31), _int(r, 0, 0xFFFFFFFF), _blob(r)),
    "METADATA_PUSH": lambda r: MetadataPushFrame(_blob(r)),
    "RESUME": lambda r: ResumeFrame(
        _blob(r), _int(r, 0, MAX_U63), _int(r, 0, MAX_U63), _int(r, 0, 0xFFFF), _int(r, 0, 0xFFFF)
    ),
    "RESUME_OK": lambda r: ResumeOkFrame(_int(r, 0, MAX_U63)),
    "EXT": lambda r: ExtFrame(_int(r, 0, MAX_U31), _int(r, 1, MAX_U31), _blob(r), _maybe_blob(r), _bool(r)),
}
FRAME_KINDS = sorted(FRAME_BUILDERS)


def random_valid_frame(rng: random.Random) -> Frame:
    return FRAME_BUILDERS[rng.choice(FRAME_KINDS)](rng)


# ---------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------


def _flip_bits(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    for _ in range(rng.randint(1, 4)):
        if buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)


def _interesting_bytes(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    if buf:
        start = rng.randrange(len(buf))
        for i in range(start, min(len(buf), start + rng.randint(1, 4))):
            buf[i] = rng.choice(INTERESTING_BYTES)


def _truncate(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    candidates = (
        [len(buf) - 1, 6, 5, 10, 14, 18, 20] + [off + w for off, w in fields] + [off for off, _ in fields]
    )
    cut = rng.choice(candidates) if rng.random() < 0.5 else rng.randint(0, len(buf))
    del buf[max(cut, 0) :]


def _extend(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    buf += rng.randbytes(rng.randint(1, 16))


def _splice(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    pos = rng.randint(0, len(buf))
    if rng.random() < 0.5:
        del buf[pos : pos + rng.randint(1, 8)]
    else:
        buf[pos:pos] = rng.randbytes(rng.randint(1, 8))


def _set_type(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    if len(buf) >= 6:
        frame_type = rng.choice(KNOWN_TYPES) if rng.random() < 0.7 else rng.randrange(64)
        buf[4] = (frame_type << 2) | (buf[4] & 0x03)


def _set_flags(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    if len(buf) >= 6:
        word = (buf[4] << 8) | buf[5]
        if rng.random() < 0.5:
            word ^= 1 << rng.randrange(10)
        else:
            word = (word & 0xFC00) | rng.randrange(0x400)
        buf[4], buf[5] = word >> 8, word & 0xFF


def _set_length(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    usable = [(off, w) for off, w in fields if off >= 0 and off + w <= len(buf)]
    if not usable:
        _flip_bits(rng, buf, fields)
        return
    off, width = rng.choice(usable)
    current = int.from_bytes(buf[off : off + width], "big")
    rest = len(buf) - off - width
    top = (1 << (8 * width)) - 1
    value = rng.choice((0, 1, top, current + 1, current - 1, rest, rest + 1, rest - 1, rng.randint(0, top)))
    buf[off : off + width] = (value & top).to_bytes(width, "big")


def _set_reserved_bits(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    for off in reserved_bit_offsets(buf) or (0, 6, 10, 14):
        if off < len(buf) and rng.random() < 0.6:
            buf[off] |= 0x80


def _zero_field(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    """A 31-bit field after the header (request-n, keepalive, ...) set to 0 or to only its top bit."""
    off = rng.choice((6, 10, 14))
    if off + 4 <= len(buf):
        buf[off : off + 4] = rng.choice((b"\0\0\0\0", b"\x80\0\0\0"))


def _set_stream_id(rng: random.Random, buf: bytearray, fields: list[tuple[int, int]]) -> None:
    if len(buf) >= 4:
        value = rng.choice((0, 1, 2, MAX_U31, 0x80000000, rng.getrandbits(32)))
        buf[0:4] = value.to_bytes(4, "big")


MUTATIONS: tuple[Callable[[random.Random, bytearray, list[tuple[int, int]]], None], ...] = (
    _flip_bits,
    _interesting_bytes,
    _truncate,
    _extend,
    _splice,
    _set_type,
    _set_flags,
    _set_length,
    _set_reserved_bits,
    _zero_field,
    _set_stream_id,
)


def mutated_frame(rng: random.Random) -> bytes:
    frame = random_valid_frame(rng)
    wire = encode_frame(frame)
    fields = length_fields(frame, wire)
    buf = bytearray(wire)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        rng.choice(MUTATIONS)(rng, buf, fields)
    return bytes(buf)


def typed_random(rng: random.Random) -> bytes:
    frame_type = rng.choice(KNOWN_TYPES)
    stream_id = rng.choice((0, 0, 1, 3, MAX_U31, 0x80000000 | 1, rng.getrandbits(32)))
    flags = rng.randrange(0x400)
    body = rng.randbytes(rng.choice((0, 2, 4, 8, 12, 14, 16, 22, rng.randint(0, 80))))
    return stream_id.to_bytes(4, "big") + ((frame_type << 10) | flags).to_bytes(2, "big") + body


def random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice((0, 1, 5, 6, 7, 10, rng.randint(0, 40), rng.randint(0, 300))))


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def check_round_trip(frame: Frame) -> None:
    """decode(encode(frame)) == frame, same class, and the encoding is canonical."""
    try:
        wire = encode_frame(frame)
    except LocalProtocolError as exc:
        raise InvariantViolation(
            f"the encoder refuses a frame the decoder produced: {frame!r}: {exc}"
        ) from exc
    again = decode_frame(wire)
    if type(again) is not type(frame) or again != frame:
        raise InvariantViolation(f"round trip changed the frame: {frame!r} -> {again!r}")
    if encode_frame(again) != wire:
        raise InvariantViolation(f"encoding is not canonical for {frame!r}")


def outcome(buf: bytes | bytearray | memoryview) -> tuple[str, Any]:
    try:
        return "ok", decode_frame(buf)
    except ProtocolError as exc:
        return "error", (type(exc), exc.rule, exc.level, exc.error_code, exc.stream_id, exc.ignorable)


def chunk(rng: random.Random, stream: bytes) -> list[bytes]:
    r = rng.random()
    if r < 0.15 or not stream:
        cuts: list[int] = []
    elif r < 0.25 and len(stream) <= 300:
        cuts = list(range(1, len(stream)))
    elif r < 0.5:
        size = rng.randint(1, 16)
        cuts = list(range(size, len(stream), size))
    else:
        cuts = sorted(rng.randint(0, len(stream)) for _ in range(rng.randint(1, 8)))
    bounds = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


# ---------------------------------------------------------------------------
# Extension decoders (aiorsocket.extensions, when present)
# ---------------------------------------------------------------------------


@dataclass
class ExtensionTarget:
    """One ``decode*``/``parse*`` function of aiorsocket.extensions, with its ``encode*`` twin if any."""

    name: str
    decode: Callable[..., object]
    encode: Callable[[Any], bytes] | None
    bool_options: list[str]
    """Keyword parameters with a bool default (e.g. ``legacy_u8_username``); fuzzed both ways."""


def discover_extension_targets() -> list[ExtensionTarget]:
    """Every ``decode*`` / ``parse*`` function in aiorsocket.extensions taking just bytes."""
    try:
        package = importlib.import_module("aiorsocket.extensions")
    except ImportError:
        return []
    found: dict[str, ExtensionTarget] = {}
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), "aiorsocket.extensions."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            prefix = next((p for p in ("decode", "parse") if name.startswith(p)), None)
            if prefix is None or not inspect.isfunction(obj):
                continue
            if not obj.__module__.startswith("aiorsocket.extensions"):
                continue
            params = list(inspect.signature(obj).parameters.values())
            required = [p for p in params if p.default is inspect.Parameter.empty]
            if len(required) != 1 or required[0].kind not in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            ):
                continue
            annotation = str(required[0].annotation)
            if not any(word in annotation for word in ("bytes", "Buffer", "memoryview")):
                continue
            home = importlib.import_module(obj.__module__)
            encoder = getattr(home, "encode" + obj.__name__[len(prefix) :], None)
            found[f"{obj.__module__}.{obj.__qualname__}"] = ExtensionTarget(
                name=f"{obj.__module__.rsplit('.', 1)[-1]}.{obj.__qualname__}",
                decode=obj,
                encode=encoder if inspect.isfunction(encoder) else None,
                bool_options=[
                    p.name
                    for p in params
                    if p.kind is inspect.Parameter.KEYWORD_ONLY and isinstance(p.default, bool)
                ],
            )
    return [found[key] for key in sorted(found)]


# Well-formed extension bodies, built by hand from the wire format of checklist §5 (not with the
# library's encoders), so mutations start from something the decoder accepts.


def _type_item(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return bytes((0x80 | rng.randrange(128),))
    text = rng.choice(_MIMES).encode() if rng.random() < 0.6 else rng.randbytes(rng.randint(1, 128))
    text = bytes(c & 0x7F for c in text)[:128] or b"x"
    return bytes((len(text) - 1,)) + text  # D-1: length-1


def _utf8(rng: random.Random, max_len: int = 24) -> bytes:
    return "".join(
        rng.choice("abcXYZ/._-0123456789\u00fc\u20ac\U0001f600") for _ in range(rng.randint(0, max_len))
    ).encode()


def _sample_composite(rng: random.Random) -> bytes:
    entries = []
    for _ in range(rng.randint(0, 4)):
        content = _blob(rng)
        entries.append(_type_item(rng) + len(content).to_bytes(3, "big") + content)
    return b"".join(entries)


def _sample_routing(rng: random.Random) -> bytes:
    tags = [_utf8(rng)[:255] for _ in range(rng.randint(0, 4))]
    return b"".join(bytes((len(t),)) + t for t in tags)


def _sample_accept(rng: random.Random) -> bytes:
    return b"".join(_type_item(rng) for _ in range(rng.randint(0, 4)))


def _sample_auth(rng: random.Random) -> bytes:
    r = rng.random()
    user, secret = _utf8(rng), _utf8(rng)
    if r < 0.35:
        return b"\x80" + len(user).to_bytes(2, "big") + user + secret
    if r < 0.5:
        return b"\x80" + bytes((len(user),)) + user + secret  # pre-2020 u8 username length
    if r < 0.75:
        return b"\x81" + secret
    item = _type_item(rng)
    return (item if item[0] not in (0x80, 0x81) else b"\x82") + _blob(rng)


def _sample_tracing(rng: random.Random) -> bytes:
    flags = rng.randrange(256)
    if not flags & 0x80:
        return bytes((flags,))
    size = (16 if flags & 0x08 else 8) + 8 + (8 if flags & 0x04 else 0)
    return bytes((flags,)) + rng.randbytes(size)


_EXTENSION_BODIES: tuple[tuple[int, str, Callable[[random.Random], bytes]], ...] = (
    (0x7E, "message/x.rsocket.routing.v0", _sample_routing),
    (0x7C, "message/x.rsocket.authentication.v0", _sample_auth),
    (0x7A, "message/x.rsocket.mime-type.v0", _type_item),
    (0x7B, "message/x.rsocket.accept-mime-types.v0", _sample_accept),
    (0x7D, "message/x.rsocket.tracing-zipkin.v0", _sample_tracing),
)


def _sample_request_composite(rng: random.Random) -> bytes:
    """Composite metadata holding well-known extension entries (id or string MIME) and others."""
    entries = []
    for _ in range(rng.randint(0, 5)):
        if rng.random() < 0.8:
            well_known, name, body = rng.choice(_EXTENSION_BODIES)
            mime = (
                bytes((0x80 | well_known,)) if rng.random() < 0.7 else bytes((len(name) - 1,)) + name.encode()
            )
            content = body(rng)
        else:
            mime, content = _type_item(rng), _blob(rng)
        entries.append(mime + len(content).to_bytes(3, "big") + content)
    return b"".join(entries)


EXTENSION_SAMPLES: dict[str, Callable[[random.Random], bytes]] = {
    "parse_composite_metadata": _sample_request_composite,
    "decode_composite": _sample_composite,
    "decode_routing": _sample_routing,
    "decode_mime_type": _type_item,
    "decode_accept_mime_types": _sample_accept,
    "decode_auth": _sample_auth,
    "decode_tracing": _sample_tracing,
}


def check_extension_round_trip(target: ExtensionTarget, value: object) -> None:
    """A decoded extension value re-encodes, decodes to an equal value, and that encoding is canonical."""
    if target.encode is None:
        return
    try:
        wire = target.encode(value)
    except LocalProtocolError as exc:
        raise InvariantViolation(
            f"{target.name}: the encoder refuses decoded value {value!r}: {exc}"
        ) from exc
    again = target.decode(wire)
    if type(again) is not type(value) or again != value:
        raise InvariantViolation(f"{target.name}: round trip changed {value!r} into {again!r}")
    if target.encode(again) != wire:
        raise InvariantViolation(f"{target.name}: encoding of {value!r} is not canonical")


# ---------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------

_KIND_WEIGHTS = {"random": 12, "typed": 15, "valid": 5, "mutated": 50, "deframer": 18}


class FuzzEngine:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.report = FuzzReport(seed=seed)
        self.extension_targets = discover_extension_targets()
        self.report.extension_decoders = [t.name for t in self.extension_targets]
        weights = dict(_KIND_WEIGHTS)
        if self.extension_targets:
            weights["extension"] = 10
        self._kinds = list(weights)
        self._weights = list(weights.values())
        self._last_input: bytes = b""

    def rng_for(self, index: int) -> random.Random:
        return random.Random(self.seed * 1_000_000_007 + index)

    # -- one decode -------------------------------------------------------------

    def decode_one(self, buf: bytes, *, check_buffer_types: bool) -> Frame | None:
        report = self.report
        report.decode_calls += 1
        try:
            frame = decode_frame(buf)
        except ProtocolError as exc:
            report.rejected[f"{type(exc).__name__}/{exc.rule}"] += 1
            if exc.ignorable:
                report.ignorable += 1
            if check_buffer_types:
                self._same_outcome(buf, ("error", _error_key(exc)))
            return None
        report.decoded_ok[type(frame).__name__] += 1
        check_round_trip(frame)
        if encode_frame(frame) != canonical_form(buf):
            raise InvariantViolation(
                f"re-encoded {frame!r} as {encode_frame(frame).hex()}, expected {canonical_form(buf).hex()}"
            )
        if check_buffer_types:
            self._same_outcome(buf, ("ok", frame))
        return frame

    def _same_outcome(self, buf: bytes, expected: tuple[str, Any]) -> None:
        for variant in (bytearray(buf), memoryview(buf)):
            got = outcome(variant)
            if got != expected:
                raise InvariantViolation(
                    f"decoding a {type(variant).__name__} gave {got!r}, bytes gave {expected!r}"
                )

    # -- input kinds -------------------------------------------------------------

    def run_input(self, index: int) -> str:
        rng = self.rng_for(index)
        kind = rng.choices(self._kinds, self._weights)[0]
        check_types = index % 4 == 0
        if kind == "random":
            self._last_input = random_bytes(rng)
            self.decode_one(self._last_input, check_buffer_types=check_types)
        elif kind == "typed":
            self._last_input = typed_random(rng)
            self.decode_one(self._last_input, check_buffer_types=check_types)
        elif kind == "valid":
            frame = random_valid_frame(rng)
            self._last_input = encode_frame(frame)
            decoded = self.decode_one(self._last_input, check_buffer_types=check_types)
            if decoded != frame or type(decoded) is not type(frame):
                raise InvariantViolation(f"valid frame {frame!r} decoded to {decoded!r}")
        elif kind == "mutated":
            self._last_input = mutated_frame(rng)
            self.decode_one(self._last_input, check_buffer_types=check_types)
        elif kind == "deframer":
            self._run_deframer(rng)
        else:
            self._run_extension(rng, check_types)
        return kind

    def _run_deframer(self, rng: random.Random) -> None:
        parts: list[bytes] = []
        for _ in range(rng.randint(1, 8)):
            r = rng.random()
            if r < 0.5:
                parts.append(encode_frame(random_valid_frame(rng)))
            elif r < 0.8:
                parts.append(mutated_frame(rng))
            else:
                parts.append(random_bytes(rng))
        clean = b"".join(len(p).to_bytes(3, "big") + p for p in parts)
        corrupt = rng.random() < 0.35
        stream = bytearray(clean)
        if corrupt:
            for _ in range(rng.randint(1, 3)):
                rng.choice((_flip_bits, _interesting_bytes, _truncate, _extend, _splice))(rng, stream, [])
        stream_bytes = bytes(stream)
        self._last_input = stream_bytes
        limit = MAX_FRAME_SIZE if rng.random() < 0.8 else rng.randint(1, 64)
        expected, leftover, too_large = reference_split(stream_bytes, limit)
        if not corrupt and limit == MAX_FRAME_SIZE and (expected != parts or leftover != 0 or too_large):
            raise InvariantViolation("reference splitter disagrees with the clean stream")

        deframer = Deframer(limit)
        views: list[memoryview] = []
        scribble: list[bytearray] = []
        error: ProtocolError | None = None
        try:
            for piece in chunk(rng, stream_bytes):
                how = rng.randrange(4)
                if how == 0:
                    views += deframer.feed(piece)
                elif how == 1:
                    views += deframer.feed(memoryview(piece))
                else:
                    mutable = bytearray(piece)
                    views += deframer.feed(mutable if how == 2 else memoryview(mutable))
                    scribble.append(mutable)
                # The caller may reuse its read buffer at once; yielded frames must not change.
                for mutable in scribble:
                    mutable[:] = b"\xa5" * len(mutable)
            if deframer.error is not None:
                # A fault after whole frames in the same read waits here (they were returned first).
                raise deframer.error
        except ProtocolError as exc:
            error = exc
            self.report.rejected[f"deframer:{type(exc).__name__}/{exc.rule}"] += 1
        got = [bytes(v) for v in views]
        if error is not None:
            if not (too_large and isinstance(error, FrameTooLargeError)):
                raise InvariantViolation(f"deframer raised {error!r}; reference too_large={too_large}")
            if got != expected[: len(got)]:
                raise InvariantViolation("frames yielded before FL-1 are not a prefix of the reference")
        else:
            if too_large:
                raise InvariantViolation("reference hit FL-1 but the deframer did not raise")
            if got != expected:
                raise InvariantViolation(
                    f"deframer frames differ from the reference ({len(got)} got, {len(expected)} expected)"
                )
            if deframer.buffered != leftover:
                raise InvariantViolation(f"buffered={deframer.buffered}, reference leftover={leftover}")
        for raw in got:
            self.decode_one(raw, check_buffer_types=False)

    def _run_extension(self, rng: random.Random, check_buffer_types: bool) -> None:
        target = rng.choice(self.extension_targets)
        sample = EXTENSION_SAMPLES.get(target.decode.__name__)
        if sample is not None and rng.random() < 0.7:
            buf = bytearray(sample(rng))
            mutations = rng.choice((0, 0, 1, 1, 1, 2, 3))
        else:
            buf = bytearray(random_bytes(rng))
            mutations = rng.choice((0, 1))
        for _ in range(mutations):
            rng.choice(MUTATIONS)(rng, buf, [])
        self._last_input = raw = bytes(buf)
        options = {name: rng.random() < 0.3 for name in target.bool_options}
        self.report.extension_calls += 1
        try:
            value = target.decode(raw, **options)
        except MetadataError as exc:
            self.report.extension_rejected[f"{target.name}:{exc.rule}"] += 1
            expected: tuple[str, Any] = ("error", (type(exc), exc.rule))
        else:
            self.report.extension_ok += 1
            check_extension_round_trip(target, value)
            expected = ("ok", value)
        if check_buffer_types:
            for variant in (bytearray(raw), memoryview(raw)):
                try:
                    got: tuple[str, Any] = ("ok", target.decode(variant, **options))
                except MetadataError as exc:
                    got = ("error", (type(exc), exc.rule))
                if got != expected:
                    raise InvariantViolation(
                        f"{target.name} on a {type(variant).__name__}: {got!r} != {expected!r}"
                    )

    # -- the loop ----------------------------------------------------------------

    def run(
        self,
        count: int,
        *,
        max_seconds: float = float("inf"),
        start_index: int = 0,
        progress: Callable[[str], None] | None = None,
        progress_every: int = 100_000,
    ) -> FuzzReport:
        report = self.report
        started = time.perf_counter()
        for index in range(start_index, start_index + count):
            if index % 256 == 0 and time.perf_counter() - started > max_seconds:
                report.stopped_by_time = True
                break
            kind = "?"
            try:
                kind = self.run_input(index)
            except Exception as exc:  # the whole point: anything foreign is a failure
                report.failure = FuzzFailure(
                    index=index,
                    kind=kind if kind != "?" else self._kind_of(index),
                    input_hex=self._last_input.hex(),
                    detail=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(),
                )
                report.inputs += 1
                break
            report.inputs += 1
            report.by_kind[kind] += 1
            if progress is not None and report.inputs % progress_every == 0:
                elapsed = time.perf_counter() - started
                progress(
                    f"progress: {report.inputs}/{count} inputs, {elapsed:.0f}s, "
                    f"{report.inputs / max(elapsed, 1e-9):,.0f} inputs/s"
                )
        report.seconds = time.perf_counter() - started
        return report

    def _kind_of(self, index: int) -> str:
        return self.rng_for(index).choices(self._kinds, self._weights)[0]


def _error_key(exc: ProtocolError) -> tuple[Any, ...]:
    return (type(exc), exc.rule, exc.level, exc.error_code, exc.stream_id, exc.ignorable)


def run_fuzz(
    count: int,
    seed: int,
    *,
    max_seconds: float = float("inf"),
    progress: Callable[[str], None] | None = None,
) -> FuzzReport:
    """Run ``count`` inputs derived from ``seed``; the report says what came out."""
    return FuzzEngine(seed).run(count, max_seconds=max_seconds, progress=progress)


def _print_report(report: FuzzReport) -> None:
    if report.extension_decoders:
        print("extension decoders fuzzed: " + ", ".join(report.extension_decoders))
    else:
        print("extension decoders fuzzed: none (aiorsocket.extensions has no bytes decoders)")
    print("decoded ok by frame class: " + ", ".join(f"{k}={v}" for k, v in sorted(report.decoded_ok.items())))
    if report.failure is not None:
        f = report.failure
        print(
            f"FAILURE at input index {f.index} (kind {f.kind}; "
            f"replay with --seed {report.seed} --index {f.index})"
        )
        print(f"  {f.detail}")
        print(f"  input hex: {f.input_hex}")
        print(f.traceback.rstrip())
    print(report.summary_line())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1_000_000, help="number of inputs (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1, help="seed; every input derives from (seed, index)")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop early after this long")
    parser.add_argument("--index", type=int, default=None, help="replay only this input index")
    parser.add_argument("--progress-every", type=int, default=100_000)
    args = parser.parse_args(argv)

    engine = FuzzEngine(args.seed)
    if args.index is not None:
        report = engine.run(1, start_index=args.index)
        if report.failure is None:
            print(f"input {args.index} ({engine._kind_of(args.index)}): ok, hex {engine._last_input.hex()}")
    else:
        print(f"fuzzing {args.count} inputs, seed {args.seed}, at most {args.max_seconds:.0f}s", flush=True)
        report = engine.run(
            args.count,
            max_seconds=args.max_seconds,
            progress=lambda line: print(line, flush=True),
            progress_every=args.progress_every,
        )
    _print_report(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
