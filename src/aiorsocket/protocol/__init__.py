"""The RSocket protocol engine, sans-IO: no asyncio, no sockets, no clock reads."""

from __future__ import annotations

from .config import ConnectionConfig
from .connection import Connection, ConnectionState, Role
from .events import (
    CancelReceived,
    ConnectionClosed,
    ErrorReceived,
    Event,
    GracefulCloseReceived,
    LeaseReceived,
    MetadataPushReceived,
    PayloadReceived,
    PeerSilent,
    RequestKind,
    RequestNReceived,
    RequestReceived,
    SetupReceived,
)
from .lease import LeaseInfo, LeaseStatus, LeaseTracker

__all__ = [
    "CancelReceived",
    "Connection",
    "ConnectionClosed",
    "ConnectionConfig",
    "ConnectionState",
    "ErrorReceived",
    "Event",
    "GracefulCloseReceived",
    "LeaseInfo",
    "LeaseReceived",
    "LeaseStatus",
    "LeaseTracker",
    "MetadataPushReceived",
    "PayloadReceived",
    "PeerSilent",
    "RequestKind",
    "RequestNReceived",
    "RequestReceived",
    "Role",
    "SetupReceived",
]
