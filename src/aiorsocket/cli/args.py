"""Command-line value types shared by the CLI commands: MIME aliases, durations, counts.

Each parser raises :class:`argparse.ArgumentTypeError` with the accepted form in
the message, so argparse reports ``argument --take: ...`` with the usage line.
"""

from __future__ import annotations

import argparse
import re
from typing import Final

from ..extensions.mimetypes import COMPOSITE_METADATA_MIME, ROUTING_MIME

#: The short names the MIME options accept; anything containing "/" is taken as a MIME as it is.
MIME_ALIASES: Final[dict[str, str]] = {
    "json": "application/json",
    "cbor": "application/cbor",
    "text": "text/plain",
    "binary": "application/octet-stream",
    "composite": COMPOSITE_METADATA_MIME,
    "routing": ROUTING_MIME,
}

#: ``-o`` choices; :mod:`aiorsocket.cli.output` says what each prints.
OUTPUT_FORMATS: Final = ("auto", "text", "json", "hex", "raw")

#: request-n values meaning "no limit" (2^31-1, the spec's unbounded).
UNBOUNDED_WORDS: Final = ("max", "unbounded")

_DURATION: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m)?")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}
_MAX_COUNT: Final = 2**31 - 1


def mime(value: str) -> str:
    """A MIME string, or one of :data:`MIME_ALIASES`."""
    lowered = value.strip().lower()
    if lowered in MIME_ALIASES:
        return MIME_ALIASES[lowered]
    if "/" in value:
        return value.strip()
    raise argparse.ArgumentTypeError(
        f"unknown MIME type {value!r}; give a full type such as application/json, "
        f"or one of: {', '.join(MIME_ALIASES)}"
    )


def duration(value: str) -> float:
    """Seconds: ``20``, ``2.5``, ``500ms``, ``20s`` or ``1m``; must be above zero."""
    match = _DURATION.fullmatch(value.strip())
    if match is None or float(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration above zero such as 20, 2.5s, 500ms or 1m, not {value!r}"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def count(value: str) -> int:
    """A whole number in 1..2^31-1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= _MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {_MAX_COUNT}, not {value!r}")
    return number


def request_n(value: str) -> int:
    """A count, or ``max`` for unbounded demand (2^31-1, which the spec says is never used up)."""
    if value.strip().lower() in UNBOUNDED_WORDS:
        return _MAX_COUNT
    try:
        return count(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {_MAX_COUNT}, or 'max', not {value!r}"
        ) from None


def byte_size(value: str) -> int:
    """A size in bytes, 0 allowed (``--fragment-size 0`` means do not fragment)."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a size in bytes (0 or more), not {value!r}")
    return number
