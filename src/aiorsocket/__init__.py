"""aiorsocket: RSocket for Python asyncio."""

from __future__ import annotations

from .app import Requester, Router
from .backoff import ReconnectPolicy
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
    MissingLeaseError,
    RejectedError,
    RejectedResumeError,
    RejectedSetupError,
    RSocketError,
    SetupError,
    UnsupportedSetupError,
)
from .handler import ConnectionSetup, RequestHandler
from .lease import FixedRateLease, InFlightLease, LeaseConfig, LeaseGranter, LeaseStrategy
from .loadbalance import LoadBalancedRSocket, RoundRobin, WeightedLeastOutstanding
from .payload import Payload
from .protocol import LeaseInfo
from .reconnect import ClientState, ReconnectingRSocket, StateChange
from .resume import ResumeConfig, ResumeState, ResumeStats
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
    "FixedRateLease",
    "InFlightLease",
    "InvalidError",
    "InvalidSetupError",
    "LeaseConfig",
    "LeaseGranter",
    "LeaseInfo",
    "LeaseStrategy",
    "LoadBalancedRSocket",
    "MissingLeaseError",
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
    "ResumeConfig",
    "ResumeState",
    "ResumeStats",
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
