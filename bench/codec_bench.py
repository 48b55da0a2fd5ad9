"""Micro-benchmark of the frame codec and the u24 deframer, next to a bare-minimum reference.

    python bench/codec_bench.py [--quick] [--json out.json]

Cases (PAYLOAD frames, stream 1, N|C flags, no metadata):

* encode / decode / round trip (encode then decode) with 64 B and with 16 KiB of data;
* deframing 10,000 length-prefixed 64 B PAYLOAD frames held in one buffer, fed whole and
  fed in 64 KiB chunks, and the same whole buffer deframed and decoded.

Each case also runs a "raw" reference that does the least the same job needs (struct.pack of
the 6-byte header + data; struct.unpack_from + a slice; a hand loop slicing length-prefixed
frames out of a memoryview), so ``ours/raw`` shows the distance to the ceiling.  Every number
is the median of several repetitions timed with time.perf_counter (gc off while timing).
MB/s counts wire bytes (frame bytes for the codec, whole stream bytes for deframing), 1 MB = 10^6 B.

Run it with the project's venv (aiorsocket installed): ``.venv/bin/python bench/codec_bench.py``.
Nothing asserts on speed; the numbers are for humans and for comparing runs (--json).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiorsocket.frames import Deframer, PayloadFrame, decode_frame, encode_frame, encode_frame_with_length

_HEADER = struct.Struct(">IH")
_PAYLOAD_WORD = (0x0A << 10) | 0x040 | 0x020  # PAYLOAD with C and N
CHUNK = 64 * 1024
DEFRAME_FRAMES = 10_000


@dataclass
class Timing:
    runs_s: list[float]
    frames: int
    bytes: int

    @property
    def median_s(self) -> float:
        return statistics.median(self.runs_s)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.median_s

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.median_s / 1e6

    def as_dict(self) -> dict[str, object]:
        return {
            "median_s": self.median_s,
            "frames_per_s": self.frames_per_s,
            "mb_per_s": self.mb_per_s,
            "runs_s": self.runs_s,
        }


@dataclass
class Case:
    name: str
    ours: Timing
    raw: Timing

    @property
    def ratio(self) -> float:
        """Our speed as a fraction of the raw reference (1.0 = as fast as the ceiling)."""
        return self.raw.median_s / self.ours.median_s


def measure(work: Callable[[], int], *, repetitions: int, frames: int, nbytes: int) -> Timing:
    """Time ``work`` (which returns how many frames it handled) ``repetitions`` times."""
    work()  # warm up
    runs: list[float] = []
    for _ in range(repetitions):
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            handled = work()
            runs.append(time.perf_counter() - start)
        finally:
            if gc_was_enabled:
                gc.enable()
        if handled != frames:
            raise RuntimeError(f"benchmark body handled {handled} frames, expected {frames}")
    return Timing(runs, frames, nbytes)


# --- codec cases -------------------------------------------------------------------------


def codec_cases(size: int, ops: int, repetitions: int) -> list[Case]:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = PayloadFrame(1, data, complete=True, next=True)
    wire = encode_frame(frame)
    raw_wire = _HEADER.pack(1, _PAYLOAD_WORD) + data
    if raw_wire != wire or decode_frame(wire) != frame:
        raise RuntimeError("the raw reference does not produce the codec's bytes")
    nbytes = len(wire) * ops
    loop = range(ops)

    def ours_encode() -> int:
        encode = encode_frame
        for _ in loop:
            encode(frame)
        return ops

    def raw_encode() -> int:
        pack = _HEADER.pack
        for _ in loop:
            pack(1, _PAYLOAD_WORD) + data
        return ops

    def ours_decode() -> int:
        decode = decode_frame
        for _ in loop:
            decode(wire)
        return ops

    def raw_decode() -> int:
        unpack = _HEADER.unpack_from
        for _ in loop:
            stream_id, word = unpack(wire, 0)
            (stream_id & 0x7FFFFFFF, word >> 10, word & 0x3FF, wire[6:])
        return ops

    def ours_round_trip() -> int:
        encode, decode = encode_frame, decode_frame
        for _ in loop:
            decode(encode(frame))
        return ops

    def raw_round_trip() -> int:
        pack, unpack = _HEADER.pack, _HEADER.unpack_from
        for _ in loop:
            buf = pack(1, _PAYLOAD_WORD) + data
            stream_id, word = unpack(buf, 0)
            (stream_id & 0x7FFFFFFF, word >> 10, word & 0x3FF, buf[6:])
        return ops

    label = f"{size} B" if size < 1024 else f"{size // 1024} KiB"
    cases = []
    for what, ours, raw in (
        ("encode", ours_encode, raw_encode),
        ("decode", ours_decode, raw_decode),
        ("round trip", ours_round_trip, raw_round_trip),
    ):
        cases.append(
            Case(
                f"PAYLOAD {label} {what}",
                measure(ours, repetitions=repetitions, frames=ops, nbytes=nbytes),
                measure(raw, repetitions=repetitions, frames=ops, nbytes=nbytes),
            )
        )
    return cases


# --- deframer cases ----------------------------------------------------------------------


def raw_split(view: memoryview) -> tuple[list[memoryview], int]:
    """The least a u24 deframer can do: slice frames out of one buffer; returns frames and rest."""
    frames: list[memoryview] = []
    offset = 0
    size = len(view)
    while size - offset >= 3:
        end = offset + 3 + ((view[offset] << 16) | (view[offset + 1] << 8) | view[offset + 2])
        if end > size:
            break
        frames.append(view[offset + 3 : end])
        offset = end
    return frames, offset


def deframer_cases(count: int, repetitions: int, passes: int) -> list[Case]:
    """``passes`` runs over the buffer per timed repetition, so one repetition is not a few ms."""
    frame = PayloadFrame(1, bytes(64), complete=True, next=True)
    stream = b"".join(encode_frame_with_length(frame) for _ in range(count))
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    nbytes = len(stream) * passes
    frames = count * passes
    rounds = range(passes)

    def ours_whole() -> int:
        return sum(len(Deframer().feed(stream)) for _ in rounds)

    def raw_whole() -> int:
        return sum(len(raw_split(memoryview(stream))[0]) for _ in rounds)

    def ours_chunked() -> int:
        handled = 0
        for _ in rounds:
            deframer = Deframer()
            for piece in chunks:
                handled += len(deframer.feed(piece))
        return handled

    def raw_chunked() -> int:
        handled = 0
        for _ in rounds:
            pending = bytearray()
            for piece in chunks:
                if pending:
                    pending += piece
                    buf = bytes(pending)
                else:
                    buf = piece
                found, used = raw_split(memoryview(buf))
                handled += len(found)
                pending = bytearray(buf[used:])
        return handled

    def ours_deframe_decode() -> int:
        decode = decode_frame
        handled = 0
        for _ in rounds:
            for raw in Deframer().feed(stream):
                decode(raw)
                handled += 1
        return handled

    def raw_deframe_decode() -> int:
        unpack = _HEADER.unpack_from
        handled = 0
        for _ in rounds:
            for raw in raw_split(memoryview(stream))[0]:
                stream_id, word = unpack(raw, 0)
                (stream_id & 0x7FFFFFFF, word >> 10, word & 0x3FF, bytes(raw[6:]))
                handled += 1
        return handled

    label = f"{count:,} x 64 B PAYLOAD"
    return [
        Case(
            f"deframe {label}, one buffer",
            measure(ours_whole, repetitions=repetitions, frames=frames, nbytes=nbytes),
            measure(raw_whole, repetitions=repetitions, frames=frames, nbytes=nbytes),
        ),
        Case(
            f"deframe {label}, 64 KiB chunks",
            measure(ours_chunked, repetitions=repetitions, frames=frames, nbytes=nbytes),
            measure(raw_chunked, repetitions=repetitions, frames=frames, nbytes=nbytes),
        ),
        Case(
            f"deframe+decode {label}",
            measure(ours_deframe_decode, repetitions=repetitions, frames=frames, nbytes=nbytes),
            measure(raw_deframe_decode, repetitions=repetitions, frames=frames, nbytes=nbytes),
        ),
    ]


# --- output ------------------------------------------------------------------------------


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}"


def render(cases: list[Case]) -> str:
    header = ("case", "ours frames/s", "ours MB/s", "raw frames/s", "raw MB/s", "ours/raw")
    rows = [
        (
            c.name,
            _si(c.ours.frames_per_s),
            f"{c.ours.mb_per_s:,.1f}",
            _si(c.raw.frames_per_s),
            f"{c.raw.mb_per_s:,.1f}",
            f"{c.ratio:.2f}",
        )
        for c in cases
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="aiorsocket frame codec micro-benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and operations")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)

    repetitions = 3 if args.quick else 7
    scale = 10 if args.quick else 1
    started = time.perf_counter()
    cases = [
        *codec_cases(64, 200_000 // scale, repetitions),
        *codec_cases(16 * 1024, 50_000 // scale, repetitions),
        *deframer_cases(DEFRAME_FRAMES, repetitions, 2 if args.quick else 10),
    ]
    elapsed = time.perf_counter() - started

    print(
        f"aiorsocket codec bench: Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, median of {repetitions} runs{' (--quick)' if args.quick else ''}"
    )
    print(render(cases))
    print(f"({elapsed:.1f}s; ours/raw = our speed as a fraction of the bare-minimum reference)")

    if args.json:
        document = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "quick": args.quick,
            "repetitions": repetitions,
            "cases": [
                {
                    "case": c.name,
                    "frames": c.ours.frames,
                    "bytes": c.ours.bytes,
                    "ours": c.ours.as_dict(),
                    "raw": c.raw.as_dict(),
                    "ours_over_raw": c.ratio,
                }
                for c in cases
            ],
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
