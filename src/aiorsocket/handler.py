"""The responder interface: what a server (or a client serving its server) implements."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import ApplicationError
from .frames import SetupFrame
from .payload import Payload


class RequestHandler:
    """Override the interactions you serve; the rest answer APPLICATION_ERROR, as in rsocket-java.

    Each request runs in its own task, so a slow handler never holds up the others.
    Raise :class:`aiorsocket.errors.ApplicationError` (or ``RejectedError``,
    ``InvalidError``, ...) to answer with that error code; any other exception is
    answered with APPLICATION_ERROR carrying ``str(exc)``.

    Set :attr:`eager` to run request/response and fire-and-forget handlers inline, as
    Python 3.12's eager tasks do: the handler starts as its request is read, and a task
    is made only if it suspends (it then carries on concurrently, as any other).  A
    handler that answers without suspending then costs no task at all.  The one
    difference a handler can see: until it first suspends, ``asyncio.current_task()``
    is None, so ``asyncio.timeout``, ``TaskGroup`` or anyio-based code must not be
    entered before its first suspending ``await``.
    """

    eager: ClassVar[bool] = False
    """Run request/response and fire-and-forget handlers inline until they suspend."""

    async def request_response(self, payload: Payload) -> Payload | None:
        """The one response; None answers with an empty completion."""
        raise ApplicationError("Request-Response not implemented.")

    async def fire_and_forget(self, payload: Payload) -> None:
        raise ApplicationError("Fire-and-Forget not implemented.")

    def request_stream(self, payload: Payload) -> AsyncIterable[Payload] | Awaitable[AsyncIterable[Payload]]:
        """Items to send; pulled only as fast as the requester's request-n allows."""
        raise ApplicationError("Request-Stream not implemented.")

    def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterable[Payload] | Awaitable[AsyncIterable[Payload]]:
        """``payload`` is the first inbound payload (for routing); ``inbound`` yields every
        inbound payload, that first one included, as rsocket-java's Flux does."""
        raise ApplicationError("Request-Channel not implemented.")

    async def metadata_push(self, metadata: bytes) -> None:
        """Metadata pushed by the peer; nothing is sent back (MP-2)."""


@dataclass(frozen=True, slots=True)
class ConnectionSetup:
    """What a server's acceptor learns about a new connection."""

    setup: SetupFrame
    peer: Any
    """The transport's peer address."""
    peercert: dict[str, Any] | None = None
    """The client's TLS certificate, when mutual TLS verified one."""

    @property
    def payload(self) -> Payload:
        return Payload(self.setup.data, self.setup.metadata)

    @property
    def data_mime(self) -> str:
        return self.setup.data_mime

    @property
    def metadata_mime(self) -> str:
        return self.setup.metadata_mime
