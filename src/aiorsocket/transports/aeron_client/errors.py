"""Errors of the Aeron client that callers act on: no binding, no driver."""

from __future__ import annotations

from ...errors import LocalProtocolError


class AeronUnavailableError(LocalProtocolError):
    """The native Aeron client was never built for this interpreter (see ``build.py``)."""


class DriverNotRunningError(ConnectionRefusedError):
    """No live Aeron media driver owns the directory: nothing can be published or received."""
