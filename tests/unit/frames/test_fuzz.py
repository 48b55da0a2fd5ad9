"""Hypothesis fuzz of the frame decoder and the u24 deframer (checklist §1, §3.1-3.2, §4).

Inputs are random bytes, random bodies behind a known header, and valid frames of all 15
types (``support.frame_strategies``) mutated by bit flips, truncation, extension, splices,
type/flag rewrites, overwritten length fields, reserved bits and stream ids.  For every input:

* the only exceptions out of ``decode_frame`` / ``Deframer.feed`` are ``ProtocolError``s;
* whatever decodes re-encodes, decodes to an equal frame, and that encoding is canonical;
* the re-encoding is the input with reserved bits (FL-3) and undefined flags (FL-5) cleared and
  the ignored tail of fixed-size frames (U-1) dropped: nothing else may be lost or changed;
* bytes, bytearray and memoryview give the same outcome.

The deframer is checked against a reference splitter for any byte stream and any chunking.
The long run of the same ideas is ``tests/reliability/fuzz_frames.py``.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiorsocket.errors import (
    FrameError,
    FrameTooLargeError,
    LocalProtocolError,
    MetadataError,
    ProtocolError,
)
from aiorsocket.frames import (
    MAX_FRAME_SIZE,
    Deframer,
    Frame,
    FrameType,
    PayloadFrame,
    decode_frame,
    encode_frame,
    encode_frame_with_length,
)
from support.frame_oracle import (
    DEFINED_FLAGS,
    canonical_form,
    length_fields,
    reference_split,
    reserved_bit_offsets,
)
from support.frame_strategies import any_frame

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: For the costlier properties (several frames, chunked feeds) and the per-decoder extension runs.
FUZZ_LIGHT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KNOWN_TYPES = [int(t) for t in FrameType if t is not FrameType.RESERVED]
FRAME_TYPE_OF: dict[int, FrameType] = {int(t): t for t in FrameType}

# --- the oracle -------------------------------------------------------------------------


def decode_or_reject(
    buf: bytes | bytearray | memoryview, decoder: Callable[[Any], Frame] = decode_frame
) -> Any:
    """The decoded frame, or the ProtocolError; any other exception fails the test."""
    try:
        return decoder(buf)
    except ProtocolError as exc:
        error = exc
    except Exception as exc:
        pytest.fail(
            f"foreign {type(exc).__name__}: {exc} from decode_frame(bytes.fromhex({bytes(buf).hex()!r}))"
        )
    assert isinstance(error, FrameError), f"decode_frame raised a non-frame ProtocolError {error!r}"
    assert error.rule, "every library error names the rule it enforces"
    return error


def assert_round_trips(
    frame: Frame,
    encoder: Callable[[Frame], bytes] = encode_frame,
    decoder: Callable[[bytes], Frame] = decode_frame,
) -> None:
    """A decoded frame re-encodes, decodes to an equal frame, and its encoding is canonical."""
    try:
        wire = encoder(frame)
    except LocalProtocolError as exc:
        pytest.fail(f"the encoder refuses {frame!r}, which the decoder produced: {exc}")
    again = decoder(wire)
    assert type(again) is type(frame)
    assert again == frame, f"{frame!r} re-decoded as {again!r}"
    assert encoder(again) == wire


def check(buf: bytes) -> Any:
    """Run the oracle on ``buf`` as bytes, bytearray and memoryview; round trip any frame."""
    result = decode_or_reject(buf)
    for variant in (bytearray(buf), memoryview(buf)):
        other = decode_or_reject(variant)
        if isinstance(result, ProtocolError):
            assert isinstance(other, ProtocolError)
            assert (type(other), other.rule, other.error_code, other.ignorable) == (
                type(result),
                result.rule,
                result.error_code,
                result.ignorable,
            )
        else:
            assert other == result
    if not isinstance(result, ProtocolError):
        assert_round_trips(result)
        assert encode_frame(result).hex() == canonical_form(buf).hex(), result
    return result


# --- mutations --------------------------------------------------------------------------


MUTATIONS = (
    "flip",
    "truncate",
    "extend",
    "overwrite",
    "splice",
    "type",
    "flags",
    "length",
    "reserved",
    "stream",
)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    frame = draw(any_frame)
    wire = encode_frame(frame)
    fields = length_fields(frame, wire)
    buf = bytearray(wire)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(MUTATIONS))
        size = len(buf)
        if op == "flip" and size:
            buf[draw(st.integers(0, size - 1))] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del buf[draw(st.integers(0, size)) :]
        elif op == "extend":
            buf += draw(st.binary(min_size=1, max_size=16))
        elif op == "overwrite" and size:
            pos = draw(st.integers(0, size - 1))
            new = draw(st.binary(min_size=1, max_size=4))
            buf[pos : pos + len(new)] = new
        elif op == "splice":
            pos = draw(st.integers(0, size))
            if draw(st.booleans()):
                del buf[pos : pos + draw(st.integers(1, 8))]
            else:
                buf[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "type" and size >= 6:
            new_type = draw(st.sampled_from(KNOWN_TYPES) | st.integers(0, 63))
            buf[4] = (new_type << 2) | (buf[4] & 0x03)
        elif op == "flags" and size >= 6:
            flags = draw(st.integers(0, 0x3FF))
            buf[4] = (buf[4] & 0xFC) | (flags >> 8)
            buf[5] = flags & 0xFF
        elif op == "length":
            usable = [(o, w) for o, w in fields if o + w <= size]
            if usable:
                offset, width = draw(st.sampled_from(usable))
                rest = size - offset - width
                top = (1 << (8 * width)) - 1
                value = draw(st.sampled_from([0, top, rest - 1, rest, rest + 1]) | st.integers(0, top))
                buf[offset : offset + width] = (value & top).to_bytes(width, "big")
        elif op == "reserved" and size:
            for offset in draw(st.lists(st.sampled_from(reserved_bit_offsets(buf)), min_size=1, unique=True)):
                buf[offset] |= 0x80
        elif op == "stream" and size >= 4:
            buf[0:4] = draw(st.sampled_from([0, 1, 0x80000000]) | st.integers(0, 2**32 - 1)).to_bytes(
                4, "big"
            )
    return bytes(buf)


@st.composite
def known_header_random_body(draw: st.DrawFn) -> bytes:
    frame_type = draw(st.sampled_from(KNOWN_TYPES))
    stream_id = draw(st.sampled_from([0, 1, 0x80000000, 0xFFFFFFFF]) | st.integers(0, 2**32 - 1))
    flags = draw(st.integers(0, 0x3FF))
    body = draw(st.binary(max_size=64))
    return stream_id.to_bytes(4, "big") + ((frame_type << 10) | flags).to_bytes(2, "big") + body


# --- decode_frame -----------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_protocol_errors(buf: bytes) -> None:
    check(buf)


@FUZZ
@given(known_header_random_body())
def test_known_type_with_random_body_raises_only_protocol_errors(buf: bytes) -> None:
    check(buf)


@FUZZ
@given(mutated_frames())
def test_mutated_valid_frames_raise_only_protocol_errors_and_round_trip(buf: bytes) -> None:
    check(buf)


@given(any_frame, st.integers(0, 0x3FF), st.data())
def test_fl3_fl5_reserved_bits_and_undefined_flags_do_not_change_the_value(
    frame: Frame, noise: int, data: st.DataObject
) -> None:
    buf = bytearray(encode_frame(frame))
    frame_type = FrameType(buf[4] >> 2)
    undefined = 0x3FF & ~DEFINED_FLAGS[frame_type]
    if frame_type is not FrameType.EXT:
        undefined |= 0x200  # I is defined everywhere, but only EXT carries it in its value
    word = ((buf[4] << 8) | buf[5]) | (noise & undefined)
    buf[4], buf[5] = word >> 8, word & 0xFF
    for offset in data.draw(st.lists(st.sampled_from(reserved_bit_offsets(buf)), unique=True)):
        buf[offset] |= 0x80
    assert decode_or_reject(bytes(buf)) == frame


def test_mutations_reach_decoded_frames_and_many_rules() -> None:
    """The mutation strategy is not vacuous: it yields both decodable frames and several rejections."""
    outcomes: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(mutated_frames())
    def collect(buf: bytes) -> None:
        result = decode_or_reject(buf)
        outcomes.add(result.rule if isinstance(result, ProtocolError) else "decoded")

    collect()
    assert "decoded" in outcomes
    assert {"FL-2", "IG-2"} <= outcomes, outcomes
    assert len(outcomes) >= 5, outcomes


# --- the oracle itself can fail ---------------------------------------------------------


@pytest.mark.parametrize("foreign", [IndexError, ValueError, UnicodeDecodeError, OverflowError])
def test_oracle_fails_on_a_foreign_exception(foreign: type[Exception]) -> None:
    def broken(buf: Any) -> Frame:
        if foreign is UnicodeDecodeError:
            raise UnicodeDecodeError("ascii", b"\xff", 0, 1, "boom")
        raise foreign("boom")

    with pytest.raises(pytest.fail.Exception, match=foreign.__name__):
        decode_or_reject(b"\x00" * 6, broken)


def test_oracle_fails_on_a_round_trip_that_loses_a_field() -> None:
    def lossy(wire: bytes) -> Frame:
        frame = decode_frame(wire)
        assert isinstance(frame, PayloadFrame)
        return PayloadFrame(frame.stream_id, frame.data, None, frame.follows, frame.complete, frame.next)

    with pytest.raises(AssertionError):
        assert_round_trips(PayloadFrame(1, b"d", b"m"), decoder=lossy)


# --- Deframer ---------------------------------------------------------------------------


@st.composite
def chunkings(draw: st.DrawFn, stream: bytes) -> list[tuple[bytes, int]]:
    """Pieces of ``stream`` (empty ones allowed), each with how to feed it (0..3)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    bounds = [0, *cuts, len(stream)]
    return [(stream[a:b], draw(st.integers(0, 3))) for a, b in itertools.pairwise(bounds)]


def feed_all(deframer: Deframer, pieces: list[tuple[bytes, int]]) -> list[bytes]:
    """Feed every piece as bytes / memoryview(bytes) / bytearray / memoryview(bytearray).

    Mutable pieces are scribbled over right after each feed, as a caller reusing its read
    buffer would; the frames handed out must not change.
    """
    views: list[memoryview] = []
    mutables: list[bytearray] = []
    for piece, how in pieces:
        if how == 0:
            views += deframer.feed(piece)
        elif how == 1:
            views += deframer.feed(memoryview(piece))
        else:
            mutable = bytearray(piece)
            views += deframer.feed(mutable if how == 2 else memoryview(mutable))
            mutables.append(mutable)
        for mutable in mutables:
            mutable[:] = b"\xa5" * len(mutable)
    if deframer.error is not None:
        # A fault after whole frames in the same read waits here (they were returned first).
        raise deframer.error
    return [bytes(v) for v in views]


@FUZZ_LIGHT
@given(st.lists(any_frame, max_size=8), st.data())
def test_s4_deframer_yields_exactly_the_frames_in_order_for_any_chunking(
    frames: list[Frame], data: st.DataObject
) -> None:
    stream = b"".join(encode_frame_with_length(f) for f in frames)
    deframer = Deframer()
    got = feed_all(deframer, data.draw(chunkings(stream)))
    assert got == [encode_frame(f) for f in frames]
    assert [decode_frame(raw) for raw in got] == frames
    assert deframer.buffered == 0


@FUZZ_LIGHT
@given(st.lists(any_frame, min_size=1, max_size=6), st.data())
def test_s4_deframer_holds_a_truncated_last_frame_as_buffered(
    frames: list[Frame], data: st.DataObject
) -> None:
    stream = b"".join(encode_frame_with_length(f) for f in frames)
    last = len(encode_frame_with_length(frames[-1]))
    missing = data.draw(st.integers(1, last))
    deframer = Deframer()
    got = feed_all(deframer, data.draw(chunkings(stream[:-missing])))
    assert [decode_frame(raw) for raw in got] == frames[:-1]
    assert deframer.buffered == last - missing


@FUZZ_LIGHT
@given(
    st.binary(max_size=300)
    | st.lists(st.binary(max_size=40), max_size=8).map(
        lambda parts: b"".join(len(p).to_bytes(3, "big") + p for p in parts)
    ),
    st.sampled_from([MAX_FRAME_SIZE, 1, 6, 10, 32]) | st.integers(1, MAX_FRAME_SIZE),
    st.data(),
)
def test_fl1_deframer_matches_the_reference_splitter_on_any_stream(
    stream: bytes, limit: int, data: st.DataObject
) -> None:
    expected, leftover, too_large = reference_split(stream, limit)
    deframer = Deframer(limit)
    pieces = data.draw(chunkings(stream))
    error: ProtocolError | None = None
    got: list[bytes] = []
    try:
        got = feed_all(deframer, pieces)
    except ProtocolError as exc:
        error = exc
    except Exception as exc:
        pytest.fail(f"foreign {type(exc).__name__}: {exc} from the deframer on {stream.hex()}")
    if error is not None:
        assert isinstance(error, FrameTooLargeError), error
        assert too_large, f"FL-1 raised on a stream with no prefix over {limit}: {error}"
        assert error.rule == "FL-1"
        return
    assert not too_large, "a prefix over the limit went unnoticed"
    assert got == expected
    assert deframer.buffered == leftover
    for raw in got:
        check(raw)


# --- extension decoders (aiorsocket.extensions, when present) ---------------------------


def extension_decoders() -> dict[str, tuple[Callable[..., object], Callable[[Any], bytes] | None]]:
    """``decode*`` / ``parse*`` functions of aiorsocket.extensions whose only required argument is bytes,
    each with its ``encode*`` twin from the same module (None when there is none)."""
    try:
        package = importlib.import_module("aiorsocket.extensions")
    except ImportError:
        return {}
    found: dict[str, tuple[Callable[..., object], Callable[[Any], bytes] | None]] = {}
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), "aiorsocket.extensions."):
        for name, obj in vars(importlib.import_module(info.name)).items():
            prefix = next((p for p in ("decode", "parse") if name.startswith(p)), None)
            if prefix is None or not inspect.isfunction(obj):
                continue
            if not obj.__module__.startswith("aiorsocket.extensions"):
                continue
            required = [
                p for p in inspect.signature(obj).parameters.values() if p.default is inspect.Parameter.empty
            ]
            if (
                len(required) == 1
                and required[0].kind
                in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                and any(word in str(required[0].annotation) for word in ("bytes", "Buffer", "memoryview"))
            ):
                encoder = getattr(
                    importlib.import_module(obj.__module__), "encode" + name[len(prefix) :], None
                )
                found[f"{obj.__module__}.{obj.__qualname__}"] = (
                    obj,
                    encoder if inspect.isfunction(encoder) else None,
                )
    return dict(sorted(found.items()))


EXTENSION_DECODERS = extension_decoders()

#: Pieces every extension format is made of (checklist §5): a type item (well-known id, or
#: length-1 + ASCII, D-1), a u24/u16/u8 length with that many bytes, UTF-8 text, raw bytes.
_ascii = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128)
_token = st.one_of(
    st.integers(0, 127).map(lambda i: bytes((0x80 | i,))),
    _ascii.map(lambda t: bytes((len(t) - 1,)) + t.encode()),
    st.binary(max_size=40).map(lambda b: len(b).to_bytes(3, "big") + b),
    st.binary(max_size=40).map(lambda b: len(b).to_bytes(2, "big") + b),
    st.text(max_size=20).map(lambda t: bytes((len(t.encode()),)) + t.encode()),
    st.binary(min_size=1, max_size=8),
)
extension_inputs = st.binary(max_size=200) | st.lists(_token, max_size=6).map(b"".join)


@pytest.mark.skipif(not EXTENSION_DECODERS, reason="aiorsocket.extensions has no bytes decoders yet")
@pytest.mark.parametrize("name", list(EXTENSION_DECODERS))
def test_extension_decoders_raise_only_metadata_errors_and_round_trip(name: str) -> None:
    decoder, encoder = EXTENSION_DECODERS[name]
    outcomes: set[str] = set()

    @FUZZ_LIGHT
    @given(extension_inputs)
    def fuzz(buf: bytes) -> None:
        try:
            value = decoder(buf)
        except MetadataError as exc:
            outcomes.add(exc.rule)
            return
        except Exception as exc:
            pytest.fail(f"foreign {type(exc).__name__}: {exc} from {name}(bytes.fromhex({buf.hex()!r}))")
        outcomes.add("decoded")
        assert decoder(bytearray(buf)) == value
        assert decoder(memoryview(buf)) == value
        if encoder is not None:
            try:
                wire = encoder(value)
            except LocalProtocolError as exc:
                pytest.fail(f"{name}: the encoder refuses decoded value {value!r}: {exc}")
            again = decoder(wire)
            assert type(again) is type(value)
            assert again == value
            assert encoder(again) == wire

    fuzz()
    # Not vacuous: the inputs reach both outcomes.
    assert "decoded" in outcomes, outcomes
    assert len(outcomes) >= 2, outcomes
