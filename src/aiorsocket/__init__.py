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
from .loadbalance import LoadBalancedRSocket, RoundRobin, WeightedLeastOutstanding
from .payload import Payload
from .reconnect import ClientState, ReconnectingRSocket, ReconnectPolicy, StateChange
from .server import Server, serve
from .session import RequestStream, RSocket
from .transports.tls import TLSConfig

__version__ = "0.1.0.dev0"

__all__ = [
    "ApplicationError",
    "CanceledError",
    "ClientState",
    "ConnectionCloseError",
    "ConnectionError",
    "ConnectionLostError",
    "ConnectionSetup",
    "ErrorCode",
    "ErrorFrameReceived",
    "InvalidError",
    "InvalidSetupError",
    "LoadBalancedRSocket",
    "Payload",
    "RSocket",
    "RSocketError",
    "ReconnectPolicy",
    "ReconnectingRSocket",
    "RejectedError",
    "RejectedResumeError",
    "RejectedSetupError",
    "RequestHandler",
    "RequestStream",
    "Requester",
    "RoundRobin",
    "Router",
    "Server",
    "SetupError",
    "StateChange",
    "TLSConfig",
    "UnsupportedSetupError",
    "WeightedLeastOutstanding",
    "__version__",
    "connect",
    "serve",
]
