"""aiorsocket: RSocket for Python asyncio."""

from __future__ import annotations

from .app import Requester, Router
from .client import connect
from .errors import (
    ApplicationError,
    CanceledError,
    ConnectionCloseError,
    ConnectionError,
    ConnectionLostError,
    ErrorCode,
    ErrorFrameReceived,
    InvalidError,
    InvalidSetupError,
    RejectedError,
    RejectedResumeError,
    RejectedSetupError,
    RSocketError,
    SetupError,
    UnsupportedSetupError,
)
from .handler import ConnectionSetup, RequestHandler
from .payload import Payload
from .server import Server, serve
from .session import RequestStream, RSocket
from .transports.tls import TLSConfig

__version__ = "0.1.0.dev0"

__all__ = [
    "ApplicationError",
    "CanceledError",
    "ConnectionCloseError",
    "ConnectionError",
    "ConnectionLostError",
    "ConnectionSetup",
    "ErrorCode",
    "ErrorFrameReceived",
    "InvalidError",
    "InvalidSetupError",
    "Payload",
    "RSocket",
    "RSocketError",
    "RejectedError",
    "RejectedResumeError",
    "RejectedSetupError",
    "RequestHandler",
    "RequestStream",
    "Requester",
    "Router",
    "Server",
    "SetupError",
    "TLSConfig",
    "UnsupportedSetupError",
    "__version__",
    "connect",
    "serve",
]
