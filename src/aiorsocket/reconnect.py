"""The reconnecting client: one requester over a succession of connections to the same server.

``aiorsocket.connect(uri, reconnect=ReconnectPolicy(...))`` returns a
:class:`ReconnectingRSocket`.  When its connection is lost it connects again
with exponential backoff and jitter, for as long as the policy allows, and
reports every state change (connecting, connected, disconnected, closed) to
the application.

What happens to a request depends on whether the server can have seen it:

* a request made while there is no usable connection waits for the next one
  and is sent there; so is one the server refused without processing it
  because the connection was going away (REJECTED from a closing connection,
  or a SETUP the server refused);
* a request already written to a connection that is then lost fails with
  :class:`ConnectionLostError`: the server may have run it, and re-sending it
  could run it twice.  Resumption is what keeps such requests alive.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
import weakref
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Final, Protocol, TypeVar

from .backoff import ReconnectPolicy
from .errors import (
    ConnectionCloseError,
    ConnectionLostError,
    InvalidSetupError,
    LocalProtocolError,
    RejectedError,
    RSocketError,
    SetupError,
    UnsupportedSetupError,
)
from .payload import Payload
from .protocol import ConnectionState
from .session import DEFAULT_LIMIT_RATE, RequestStream, RSocket, _check_limit

logger = logging.getLogger("aiorsocket.reconnect")

_T = TypeVar("_T")

#: State changes kept for a subscriber that has not read them yet; older ones are dropped.
STATE_BACKLOG: Final = 256

Connector = Callable[[], Awaitable[RSocket]]


class ClientState(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    """The transport is up and SETUP sent; RSocket has no SETUP acknowledgement to wait for."""
    DISCONNECTED = "disconnected"
    """No usable connection; another attempt follows after the backoff."""
    CLOSED = "closed"
    """For good: closed by the application, or the policy gave up."""


@dataclass(frozen=True, slots=True)
class StateChange:
    state: ClientState
    attempt: int
    """Consecutive connection attempts in this round: the current one (CONNECTING), the ones it
    took (CONNECTED), the failed ones so far (DISCONNECTED and CLOSED; 0 when a working connection
    was lost or closed)."""
    error: BaseException | None = None
    """DISCONNECTED: what ended the connection or failed the attempt.  CLOSED: why the client
    gave up (None when the application closed it)."""


StateCallback = Callable[[StateChange], None]


@dataclass(slots=True)
class ReconnectStats:
    connects: int = 0
    """Connections established."""
    disconnects: int = 0
    """Established connections that were lost or replaced."""
    failed_attempts: int = 0
    """Attempts that produced no connection."""
    held: int = 0
    """Requests sent on a later connection than the one current when they were made, because no
    earlier one could have delivered them."""


class StateChanges(AsyncIterator[StateChange]):
    """The current state, then every change; ends after CLOSED.

    At most :data:`STATE_BACKLOG` unread changes are kept: a consumer further
    behind loses the oldest ones, never the latest.
    """

    def __init__(self, current: StateChange) -> None:
        self._backlog: deque[StateChange] = deque([current], maxlen=STATE_BACKLOG)
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False

    def _push(self, change: StateChange) -> None:
        self._backlog.append(change)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> StateChanges:
        return self

    async def __anext__(self) -> StateChange:
        while not self._backlog:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        change = self._backlog.popleft()
        if change.state is ClientState.CLOSED:
            self._ended = True
            self._backlog.clear()
        return change


class StreamOpener(Protocol):
    """How a :class:`DeferredStream` finds a connection for its stream or channel."""

    def open_now(self) -> RequestStream | None:
        """Open on a connection usable right now, or None when there is none."""

    async def open(self) -> RequestStream:
        """Open on the next usable connection, waiting for one."""

    def failed_before_first(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised before any item arrived, proves the request was never processed."""

    def release(self, error: BaseException | None) -> None:
        """The stream last opened has ended (with ``error``, if it failed), or is being replaced."""


class DeferredStream(AsyncIterator[Payload]):
    """A request/stream or request/channel that opens on whichever connection can carry it.

    It opens at once when a connection is usable, else on the first pull; a
    request refused before its first item without being processed is opened
    again (see :class:`StreamOpener`).  Once an item has arrived a failure ends
    the stream: items may have been lost with the connection, and only
    resumption could replay them.  Cancelling works as for :class:`RequestStream`.
    """

    def __init__(self, opener: StreamOpener) -> None:
        self._opener = opener
        self._stream: RequestStream | None = opener.open_now()
        self._received = 0
        self._done = False

    def __aiter__(self) -> DeferredStream:
        return self

    @property
    def stream_id(self) -> int | None:
        """The stream id on the connection that carries it; None until it is opened."""
        return None if self._stream is None else self._stream.stream_id

    async def __anext__(self) -> Payload:
        while True:
            if self._done:
                raise StopAsyncIteration
            stream = self._stream
            if stream is None:
                try:
                    stream = self._stream = await self._opener.open()
                except BaseException:
                    self._done = True
                    raise
            try:
                item = await anext(stream)
            except Exception as exc:
                if (
                    self._received == 0
                    and not isinstance(exc, StopAsyncIteration)
                    and self._opener.failed_before_first(exc)
                ):
                    self._opener.release(exc)
                    self._stream = None
                    continue
                self._end(None if isinstance(exc, StopAsyncIteration) else exc)
                raise
            except BaseException as exc:
                self._end(exc)
                raise
            self._received += 1
            return item

    def _end(self, error: BaseException | None) -> None:
        if not self._done:
            self._done = True
            if self._stream is not None:
                self._opener.release(error)

    def cancel(self) -> None:
        """Stop receiving; sends CANCEL if the stream is open (idempotent)."""
        if self._stream is not None:
            self._stream.cancel()
        self._end(None)

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> DeferredStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cancel()

    def __del__(self) -> None:
        # Dropped unfinished: the RequestStream's own finaliser sends CANCEL; the accounting is ours.
        if not self._done and self._stream is not None:
            self._done = True
            self._opener.release(None)


def _is_permanent(exc: BaseException) -> bool:
    """A connection failure that no retry can cure: a bad URI or configuration, a SETUP the server
    calls invalid or unsupported, or a failure that is no network or RSocket error at all."""
    if isinstance(exc, LocalProtocolError | InvalidSetupError | UnsupportedSetupError):
        return True
    return not isinstance(exc, OSError | RSocketError)


class DeferredRequester(abc.ABC):
    """request_stream / request_channel for requesters whose connection is picked when the
    first item is asked for (the current one, the next one, or a pool's choice)."""

    @abc.abstractmethod
    def _opener(self, open_on: Callable[[RSocket], RequestStream], *, reopenable: bool) -> StreamOpener: ...

    def request_stream(
        self,
        payload: Payload,
        *,
        limit_rate: int | None = DEFAULT_LIMIT_RATE,
        low_tide: int | None = None,
    ) -> DeferredStream:
        """As :meth:`RSocket.request_stream`, on the connection chosen when it opens."""
        _check_limit(limit_rate, low_tide)
        return DeferredStream(
            self._opener(
                lambda rsocket: rsocket.request_stream(payload, limit_rate=limit_rate, low_tide=low_tide),
                reopenable=True,
            )
        )

    def request_channel(
        self,
        payload: Payload,
        outbound: AsyncIterable[Payload] | None = None,
        *,
        limit_rate: int | None = DEFAULT_LIMIT_RATE,
        low_tide: int | None = None,
    ) -> DeferredStream:
        """As :meth:`RSocket.request_channel`, on the connection chosen when it opens.

        A channel with ``outbound`` is never opened twice: its first outbound items may
        already have been taken from ``outbound`` for a connection that refused it.
        """
        _check_limit(limit_rate, low_tide)
        return DeferredStream(
            self._opener(
                lambda rsocket: rsocket.request_channel(
                    payload, outbound, limit_rate=limit_rate, low_tide=low_tide
                ),
                reopenable=outbound is None,
            )
        )


class ReconnectingRSocket(DeferredRequester):
    """A requester that survives lost connections (see the module docstring).

    Same requester API as :class:`RSocket`; ``request_stream`` and
    ``request_channel`` return a :class:`DeferredStream`.  Create it inside a
    running event loop; :func:`aiorsocket.connect` with ``reconnect=`` does.
    """

    def __init__(
        self,
        connector: Connector,
        policy: ReconnectPolicy | None = None,
        *,
        on_state_change: StateCallback | None = None,
        name: str = "",
        rng: random.Random | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._connector = connector
        self._policy = policy if policy is not None else ReconnectPolicy()
        self._on_state_change = on_state_change
        self.name = name
        self._rng = rng if rng is not None else random.Random()
        self._current: RSocket | None = None
        # Connections replaced while they finish streams the peer is letting complete.
        self._draining: set[RSocket] = set()
        # Resolved with each new connection; replaced whenever the current one goes.
        self._ready: asyncio.Future[RSocket] = self._loop.create_future()
        self._lost: asyncio.Future[BaseException | None] | None = None
        self._attempt = 0
        self._change = StateChange(ClientState.DISCONNECTED, 0)
        self._subscribers: weakref.WeakSet[StateChanges] = weakref.WeakSet()
        self._supervisor: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self.stats = ReconnectStats()

    @classmethod
    async def open(
        cls,
        connector: Connector,
        policy: ReconnectPolicy | None = None,
        *,
        on_state_change: StateCallback | None = None,
        name: str = "",
    ) -> ReconnectingRSocket:
        """Start, and return once connected; raises when the policy gives up on the first connection."""
        client = cls(connector, policy, on_state_change=on_state_change, name=name)
        client.start()
        try:
            await client.wait_connected()
        except BaseException:
            await client.aclose()
            raise
        return client

    def start(self) -> None:
        """Begin connecting in the background."""
        if self._supervisor is None and not self.is_closed:
            self._supervisor = asyncio.ensure_future(self._supervise())

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> ClientState:
        return self._change.state

    def states(self) -> StateChanges:
        """The current state, then each change as it happens, ending after CLOSED."""
        subscriber = StateChanges(self._change)
        if self._change.state is not ClientState.CLOSED:
            self._subscribers.add(subscriber)
        return subscriber

    @property
    def current(self) -> RSocket | None:
        """The connection a request made now would use, or None while there is none."""
        rsocket = self._current
        if rsocket is None:
            return None
        state = rsocket.connection.state
        if state is ConnectionState.ESTABLISHED:
            return rsocket
        # Closing, or closed before its callback ran: out of service now, so that nobody waits on it.
        if state is ConnectionState.CLOSING:
            self._draining.add(rsocket)
            self._drop(rsocket, ConnectionCloseError("the server is closing this connection"))
        else:
            self._drop(rsocket, rsocket.close_error)
        return None

    async def wait_connected(self) -> RSocket:
        """Wait for a usable connection; raises once the client is closed."""
        while True:
            rsocket = self.current
            if rsocket is not None:
                return rsocket
            if self._failure is not None:
                raise self._failure
            await asyncio.shield(self._ready)

    def _set_state(self, state: ClientState, attempt: int, error: BaseException | None = None) -> None:
        if self._change.state is ClientState.CLOSED:
            return
        change = self._change = StateChange(state, attempt, error)
        if state is ClientState.DISCONNECTED:
            logger.info("%s: disconnected (%r); attempt %d", self.name, error, attempt)
        if self._on_state_change is not None:
            try:
                self._on_state_change(change)
            except Exception:
                # The application's callback must not take the reconnect machinery down with it.
                logger.exception("%s: on_state_change callback failed", self.name)
        for subscriber in list(self._subscribers):
            subscriber._push(change)

    # ------------------------------------------------------------------ connecting

    async def _supervise(self) -> None:
        # Every is_closed check follows a point where the application may have closed the client:
        # an await, or a state change (its callback runs synchronously, here).
        policy = self._policy
        while True:
            self._attempt += 1
            self._set_state(ClientState.CONNECTING, self._attempt)
            if self.is_closed:
                return
            rsocket, error = await self._try_connect()
            if self.is_closed:
                if rsocket is not None:
                    rsocket.close()
                return
            if rsocket is None:
                self.stats.failed_attempts += 1
                if error is not None and _is_permanent(error):
                    self._finish(error)
                    return
                self._set_state(ClientState.DISCONNECTED, self._attempt, error)
            else:
                error = await self._serve(rsocket)
                if error is not None and _is_permanent(error):
                    self._finish(error)
            if self.is_closed:
                return
            if policy.max_attempts is not None and self._attempt >= policy.max_attempts:
                failure = ConnectionLostError(
                    f"{self.name}: gave up after {self._attempt} connection attempts: {error!r}"
                )
                failure.__cause__ = error
                self._finish(failure)
                return
            await asyncio.sleep(policy.delay(self._attempt + 1, self._rng))

    async def _try_connect(self) -> tuple[RSocket | None, BaseException | None]:
        try:
            async with asyncio.timeout(self._policy.connect_timeout):
                return await self._connector(), None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return None, exc

    async def _serve(self, rsocket: RSocket) -> BaseException | None:
        """Make ``rsocket`` current until it is lost; return why."""
        lost: asyncio.Future[BaseException | None] = self._loop.create_future()
        self._lost = lost
        self._current = rsocket
        self.stats.connects += 1
        self._set_state(ClientState.CONNECTED, self._attempt)
        if not self._ready.done():
            self._ready.set_result(rsocket)
        # The session's own close future, as Server uses it: wait_closed() would add the
        # transport's closing linger (up to seconds after a keepalive timeout) to the reconnect.
        rsocket._closed.add_done_callback(lambda _: self._connection_ended(rsocket))
        return await lost

    def _connection_ended(self, rsocket: RSocket) -> None:
        self._draining.discard(rsocket)
        self._drop(rsocket, rsocket.close_error)

    def _drop(self, rsocket: RSocket, error: BaseException | None) -> None:
        """``rsocket`` can take no more requests: stop using it and report DISCONNECTED."""
        if self._current is not rsocket:
            return
        self._current = None
        self._ready = self._loop.create_future()
        self.stats.disconnects += 1
        # A refused SETUP is a failed attempt; losing a connection that worked starts a new round.
        if not isinstance(error, SetupError):
            self._attempt = 0
        self._set_state(ClientState.DISCONNECTED, self._attempt, error)
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_result(error)

    def _finish(self, error: BaseException | None) -> None:
        if self.is_closed:
            return
        if error is None:
            self._failure = ConnectionLostError(f"{self.name}: the client is closed")
        else:
            # Waiting requests see the permanent error itself, or the give-up that names its cause.
            self._failure = error
        if not self._ready.done():
            self._ready.set_exception(self._failure)
            self._ready.exception()  # retrieved: nobody may be waiting
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        # Closed before the CLOSED callback runs, so that a callback closing again is a no-op.
        self._closed.set_result(None)
        attempt = 0 if self._current is not None else self._attempt
        for rsocket in [self._current, *self._draining]:
            if rsocket is not None:
                rsocket.close()
        self._current = None
        self._set_state(ClientState.CLOSED, attempt, error)
        self._subscribers.clear()

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_closed(self) -> bool:
        return self._closed.done()

    def close(self) -> None:
        """Stop reconnecting and close the connection; requests still open fail with ConnectionLostError."""
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
        self._finish(None)

    async def aclose(self) -> None:
        """Close, and wait until every connection has released its transport."""
        connections = [rsocket for rsocket in (self._current, *self._draining) if rsocket is not None]
        self.close()
        await self.wait_closed()
        await asyncio.gather(*(rsocket.wait_closed() for rsocket in connections))

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)
        supervisor = self._supervisor
        if supervisor is not None:
            await asyncio.gather(supervisor, return_exceptions=True)

    async def __aenter__(self) -> ReconnectingRSocket:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ requester API

    def never_processed(self, rsocket: RSocket, exc: BaseException) -> bool:
        """Whether ``exc`` from ``rsocket`` proves the server did not process the request, because
        that connection was going away: a refused SETUP, or REJECTED from a closing connection."""
        if isinstance(exc, SetupError):
            return True
        return isinstance(exc, RejectedError) and rsocket.connection.state is not ConnectionState.ESTABLISHED

    async def _call(self, operation: Callable[[RSocket], Awaitable[_T]]) -> _T:
        held = False
        while True:
            rsocket = self.current
            if rsocket is None:
                if not held:
                    held = True
                    self.stats.held += 1
                await self.wait_connected()
                continue
            try:
                return await operation(rsocket)
            except (RejectedError, SetupError) as exc:
                if not self.never_processed(rsocket, exc):
                    raise
                if not held:
                    held = True
                    self.stats.held += 1

    async def request_response(self, payload: Payload) -> Payload:
        return await self._call(lambda rsocket: rsocket.request_response(payload))

    async def fire_and_forget(self, payload: Payload) -> None:
        await self._call(lambda rsocket: rsocket.fire_and_forget(payload))

    async def metadata_push(self, metadata: bytes) -> None:
        await self._call(lambda rsocket: rsocket.metadata_push(metadata))

    def _opener(self, open_on: Callable[[RSocket], RequestStream], *, reopenable: bool) -> StreamOpener:
        return _ReconnectOpener(self, open_on, reopenable=reopenable)


class _ReconnectOpener:
    def __init__(
        self,
        client: ReconnectingRSocket,
        open_on: Callable[[RSocket], RequestStream],
        *,
        reopenable: bool,
    ) -> None:
        self._client = client
        self._open_on = open_on
        self._reopenable = reopenable
        self._rsocket: RSocket | None = None
        self._held = False

    def _hold(self) -> None:
        if not self._held:
            self._held = True
            self._client.stats.held += 1

    def open_now(self) -> RequestStream | None:
        rsocket = self._rsocket = self._client.current
        return None if rsocket is None else self._open_on(rsocket)

    async def open(self) -> RequestStream:
        self._hold()
        rsocket = self._rsocket = await self._client.wait_connected()
        return self._open_on(rsocket)

    def failed_before_first(self, exc: BaseException) -> bool:
        rsocket = self._rsocket
        if self._reopenable and rsocket is not None and self._client.never_processed(rsocket, exc):
            self._hold()
            return True
        return False

    def release(self, error: BaseException | None) -> None:
        self._rsocket = None


__all__ = [
    "ClientState",
    "DeferredStream",
    "ReconnectPolicy",
    "ReconnectStats",
    "ReconnectingRSocket",
    "StateCallback",
    "StateChange",
    "StateChanges",
    "StreamOpener",
]
