"""What the app layer knows about one connection and one request.

Handlers ask for these by annotating a parameter with the type; interceptors
receive a :class:`RequestContext` before the handler runs and again once the
interaction has finished.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..errors import ErrorCode, ErrorFrameReceived
from ..extensions import CompositeMetadata, TracingMetadata
from ..handler import ConnectionSetup
from ..payload import Payload
from ..session import RSocket
from .auth import Principal
from .codecs import Codecs

if TYPE_CHECKING:
    from .requester import Requester


class Interaction(Enum):
    """The five things a request can be; the value is the metric label."""

    REQUEST_RESPONSE = "request_response"
    REQUEST_STREAM = "request_stream"
    REQUEST_CHANNEL = "request_channel"
    FIRE_AND_FORGET = "fire_and_forget"
    METADATA_PUSH = "metadata_push"
    #: Not an interaction model: a ``@router.connect`` hook running on a new connection's SETUP.
    SETUP = "setup"

    @property
    def label(self) -> str:
        """``request/response``, ``fire-and-forget``...: how the spec names it."""
        return _LABELS[self]


_LABELS = {
    Interaction.REQUEST_RESPONSE: "request/response",
    Interaction.REQUEST_STREAM: "request/stream",
    Interaction.REQUEST_CHANNEL: "request/channel",
    Interaction.FIRE_AND_FORGET: "fire-and-forget",
    Interaction.METADATA_PUSH: "metadata push",
    Interaction.SETUP: "setup",
}


class Outcome(Enum):
    OK = "ok"
    ERROR = "error"
    CANCELED = "canceled"


@dataclass(eq=False, slots=True)
class ConnectionContext:
    """One connection as the app layer sees it; handlers may keep their own state in ``attributes``."""

    rsocket: RSocket
    requester: Requester
    codecs: Codecs
    data_mime: str
    metadata_mime: str
    setup: ConnectionSetup | None = None
    """The client's SETUP (None on the client side of a connection)."""
    setup_metadata: CompositeMetadata | None = None
    """The SETUP's metadata, decoded when the metadata MIME is composite or routing."""
    principal: Principal | None = None
    """Who authenticated with the SETUP's credentials, if anyone."""
    attributes: dict[str, Any] = field(default_factory=dict)
    opened_at: float = field(default_factory=time.time)
    setup_values: dict[Any, Any] = field(default_factory=dict)
    """SETUP data already converted, by target type (each is decoded once per connection)."""

    @property
    def setup_route(self) -> str | None:
        return self.setup_metadata.route if self.setup_metadata is not None else None


@dataclass(eq=False, slots=True)
class RequestContext:
    """One request from start to finish."""

    connection: ConnectionContext
    interaction: Interaction
    payload: Payload
    """The request's payload (for a channel, the first one; for a metadata push, the metadata)."""
    metadata: CompositeMetadata | None
    route: str | None
    data_mime: str
    """The MIME of the request's data: its mime-type entry, else the SETUP's (checklist §5.5)."""
    response_mime: str
    principal: Principal | None
    template: str | None = None
    """The route template that matched, a bounded label for metrics; None for an unknown route."""
    variables: dict[str, str] = field(default_factory=dict)
    inbound: AsyncIterator[Payload] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    error: BaseException | None = None
    items_sent: int = 0
    interceptors_started: int = 0
    """How many interceptors saw ``request_started``: only those see ``request_finished``."""

    @property
    def requester(self) -> Requester:
        """Calls back the peer that sent this request."""
        return self.connection.requester

    @property
    def tracing(self) -> TracingMetadata | None:
        return self.metadata.tracing if self.metadata is not None else None

    @property
    def outcome(self) -> Outcome:
        error = self.error
        if error is None:
            return Outcome.OK
        if isinstance(error, ErrorFrameReceived) and error.code == ErrorCode.CANCELED:
            return Outcome.CANCELED
        if isinstance(error, Exception):
            return Outcome.ERROR
        return Outcome.CANCELED  # CancelledError, GeneratorExit: the peer went away or cancelled

    @property
    def error_code(self) -> int | None:
        """The ERROR code the peer was (or would have been) sent; None on success or cancel."""
        error = self.error
        if isinstance(error, ErrorFrameReceived):
            return int(error.code)
        if isinstance(error, Exception):
            return int(ErrorCode.APPLICATION_ERROR)
        return None

    @property
    def duration(self) -> float:
        """Seconds from the request's arrival to its end (or to now, while it runs)."""
        end = self.finished if self.finished is not None else time.perf_counter()
        return end - self.started
