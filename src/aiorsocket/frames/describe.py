"""Human-readable views of frames, for logs, ``--debug`` output and the frame decoder CLI."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ErrorCode
from .codec import encode_frame
from .model import ErrorFrame, Frame


def printable(value: bytes) -> str:
    """Text when the bytes are printable UTF-8, else ``0x`` + hex."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + value.hex()
    if text.isprintable():
        return text
    return "0x" + value.hex()


def frame_flags(frame: Frame) -> list[str]:
    """The names of the flags set on the wire for ``frame``, in header order."""
    wire = encode_frame(frame)
    word = (wire[4] << 8) | wire[5]
    names: list[tuple[int, str]] = [(0x200, "I"), (0x100, "M")]
    kind = frame.frame_type.name
    if kind == "SETUP":
        names += [(0x080, "R"), (0x040, "L")]
    elif kind == "KEEPALIVE":
        names += [(0x080, "R")]
    else:
        names += [(0x080, "F"), (0x040, "C"), (0x020, "N")]
    return [name for bit, name in names if word & bit]


def describe_frame(frame: Frame) -> dict[str, Any]:
    """A JSON-ready dict: type, stream, flags, then every field of the frame."""
    out: dict[str, Any] = {
        "type": frame.frame_type.name,
        "stream_id": frame.stream_id,
        "flags": frame_flags(frame),
    }
    for field in dataclasses.fields(frame):
        # Already above; and the compiled build lists the class constant frame_type as a field.
        if field.name in ("stream_id", "frame_type"):
            continue
        value = getattr(frame, field.name)
        if isinstance(value, bytes):
            out[field.name] = printable(value)
        else:
            out[field.name] = value
    if isinstance(frame, ErrorFrame):
        try:
            out["error_code"] = f"{ErrorCode(frame.error_code).name} ({frame.error_code:#x})"
        except ValueError:
            out["error_code"] = f"{frame.error_code:#x}"
    return out
