"""A Python Aeron client for the ``aeron+udp://`` transport: our binding of Aeron's C++ client.

``build`` makes the media driver and the binding from PyPI's Aeron sources, ``_native`` loads the
binding (with a clear error when it was never built), ``client`` shares one Aeron client per event
loop and media driver, and ``driver`` runs a media driver for development and tests.
"""

from __future__ import annotations

import os


def default_directory() -> str:
    """The driver directory: ``$AERON_DIR`` as the C driver reads it, else Aeron's own default."""
    return os.environ.get("AERON_DIR") or f"/dev/shm/aeron-{os.environ.get('USER', 'default')}"
