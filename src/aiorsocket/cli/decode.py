"""``aiorsocket frames decode``: decode captured frames offline."""

from __future__ import annotations

import argparse
import json
import string
import sys
from pathlib import Path
from typing import Any

from ..errors import ProtocolError
from ..frames import Deframer
from .args import MIME_ALIASES, mime
from .framefmt import describe_wire_frame, format_frame

EXIT_OK = 0
EXIT_BAD_INPUT = 2

_EPILOG = """\
examples:
  aiorsocket frames decode 00000001200000000005
  aiorsocket frames decode 00000a00000001200000000005000006000000012400 --framing tcp
  aiorsocket frames decode @capture.bin          (raw bytes, e.g. a TCP stream dump)
  aiorsocket frames decode @capture.hex --json   (a file holding hex text)
  aiorsocket frames decode 000000011100000009fe000005046563686f6869 --metadata-mime composite

Composite metadata entries (routing, auth, MIME, tracing) are decoded when the
metadata MIME says so: taken from a SETUP frame in the input, or --metadata-mime;
without either, metadata is decoded as composite when it parses as such.
Passwords and tokens are shown as <hidden> (the hex line still carries them).
"""


def add_decode_command(commands: Any) -> None:
    frames = commands.add_parser("frames", help="work with raw RSocket frames")
    frame_commands = frames.add_subparsers(dest="frames_command", metavar="COMMAND", required=True)
    decode = frame_commands.add_parser(
        "decode",
        help="decode a captured frame or a TCP byte dump",
        description="Decode RSocket frames given as hex, or @FILE holding hex text or raw bytes.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    decode.add_argument("input", help="hex digits (spaces allowed), or @FILE")
    decode.add_argument(
        "--framing",
        choices=("auto", "tcp", "frame"),
        default="auto",
        help="tcp: u24 length-prefixed stream; frame: one frame without prefix; "
        "auto (default): tcp when the prefixes account for every byte, else one frame",
    )
    decode.add_argument(
        "--metadata-mime",
        type=mime,
        metavar="MIME",
        help="the connection's metadata MIME, for frames before (or without) a SETUP; "
        f"a MIME or one of {', '.join(MIME_ALIASES)}",
    )
    decode.add_argument("--json", action="store_true", help="one JSON object per frame")
    decode.set_defaults(handler=run_decode)


def _read_input(spec: str) -> bytes:
    if spec.startswith("@"):
        raw = Path(spec[1:]).read_bytes()
        text = raw.decode("ascii", "replace").strip()
        hexdigits = set(string.hexdigits) | set(string.whitespace)
        if text and all(ch in hexdigits for ch in text):
            return bytes.fromhex("".join(text.split()))
        return raw
    return bytes.fromhex("".join(spec.split()))


def _split(data: bytes, framing: str) -> list[bytes]:
    if framing == "frame":
        return [data]
    deframer = Deframer()
    try:
        frames = [bytes(view) for view in deframer.feed(data)]
    except ProtocolError:
        if framing == "tcp":
            raise
        return [data]
    if framing == "tcp" or (frames and deframer.buffered == 0):
        if deframer.buffered:
            raise ValueError(f"the dump ends inside a frame ({deframer.buffered} bytes left over)")
        return frames
    return [data]


def run_decode(args: argparse.Namespace) -> int:
    try:
        data = _read_input(args.input)
        chunks = _split(data, args.framing)
    except (OSError, ValueError, ProtocolError) as exc:
        print(f"aiorsocket frames decode: cannot read input: {exc}", file=sys.stderr)
        print("  give hex digits (e.g. 000000012400) or @FILE", file=sys.stderr)
        return EXIT_BAD_INPUT
    status = EXIT_OK
    metadata_mime: str | None = args.metadata_mime
    for index, chunk in enumerate(chunks):
        described = describe_wire_frame(chunk, metadata_mime)
        if "error" in described:
            status = EXIT_BAD_INPUT
        elif described["type"] == "SETUP" and args.metadata_mime is None:
            # Later frames of the same dump use the MIME this SETUP declared.
            metadata_mime = described["metadata_mime"]
        if args.json:
            print(json.dumps(described))
        else:
            print(format_frame(f"#{index}", described))
    return status
