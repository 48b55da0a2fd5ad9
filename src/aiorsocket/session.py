"""The asyncio RSocket: one connection driven over one transport, requester and responder at once.

This module owns what the sans-IO :class:`~aiorsocket.protocol.Connection` must
not: tasks, timers, waiting for credit and for the transport to drain.  Bounds:

* inbound items wait in a queue no longer than the credit the consumer granted
  (REQUEST_N goes out only as the consumer pulls, batched like reactor's
  ``limitRate``: ask for ``limit_rate``, top up once 75% is consumed);
* outbound frames are flushed once per event-loop pass, and producers wait for
  the transport to drain above its high-water mark;
* frames that arrive while a SETUP awaits the acceptor are one read at most
  (reading is paused).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import types
import weakref
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, Final, TypeVar, cast

from ._mypyc import mypyc_attr
from .errors import (
    ApplicationError,
    ConnectionLostError,
    ErrorCode,
    ErrorFrameReceived,
    LocalProtocolError,
    ProtocolError,
    RSocketError,
    error_from_code,
)
from .framelog import FrameLogger, FrameLoggingTransport
from .handler import ConnectionSetup, RequestHandler
from .lease import LeaseConfig, Leasing
from .payload import Payload
from .protocol import (
    CancelReceived,
    Connection,
    ConnectionClosed,
    ConnectionState,
    ErrorReceived,
    GracefulCloseReceived,
    LeaseInfo,
    LeaseReceived,
    MetadataPushReceived,
    PayloadReceived,
    PeerSilent,
    RequestKind,
    RequestNReceived,
    RequestReceived,
    SetupReceived,
)
from .protocol.streams import UNBOUNDED
from .resume import ResumableTransport, ResumeStats
from .transports.base import FrameTransport

logger = logging.getLogger("aiorsocket")
T = TypeVar("T")

DEFAULT_LIMIT_RATE: Final = 256
#: Flush synchronously once this many bytes are queued, so a producer that never
#: yields to the loop cannot pile up frames.
_FLUSH_BYTES: Final = 64 * 1024

Acceptor = Callable[[ConnectionSetup, "RSocket"], Awaitable[RequestHandler | None]]


def _error_message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _checked_response(result: object) -> Payload | None:
    if result is None or isinstance(result, Payload):
        return result
    raise TypeError(f"request_response must return a Payload or None, not {type(result).__name__}")


def _report_escaped(loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
    """A handler's first step raised what no handler error path takes (a BaseException that
    is not an Exception): reported as a task would report it, never raised into the reader."""
    loop.call_exception_handler({"message": "handler failed outside its error handling", "exception": exc})


@types.coroutine
def _carry_on(coro: Coroutine[Any, Any, T], awaiting: Any) -> Generator[Any, Any, T]:
    """The rest of a coroutine whose first step ran inline and suspended on ``awaiting``: the
    task this runs in drives it from there as if it had started it.  (Driven by hand rather
    than by ``yield from``, which the compiled build cannot apply to a coroutine.)"""
    while True:
        try:
            value = yield awaiting
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            # Cancellation (or any throw) reaches the coroutine where it is suspended.
            try:
                awaiting = coro.throw(exc)
            except StopIteration as stop:
                return cast(T, stop.value)
            continue
        try:
            awaiting = coro.send(value)
        except StopIteration as stop:
            return cast(T, stop.value)


# An ordinary class even in the compiled build: streams hold it weakly.
@mypyc_attr(native_class=False)
class _Inbound:
    """Payloads received on one stream, waiting for their consumer; bounded by credit."""

    __slots__ = (
        "__weakref__",
        "_consumed",
        "_items",
        "_limit",
        "_low_tide",
        "_outstanding_free",
        "_session",
        "_waiter",
        "done",
        "error",
        "stream_id",
    )

    def __init__(
        self,
        session: RSocket,
        stream_id: int,
        limit: int,
        *,
        low_tide: int | None = None,
        outstanding_free: int = 0,
    ) -> None:
        self._session = session
        self.stream_id = stream_id
        self._limit = limit
        # Top up once this many are consumed (reactor's limitRate default: 75% of the window).
        self._low_tide = low_tide if low_tide is not None else max(1, limit - (limit >> 2))
        self._items: deque[Payload] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._consumed = 0
        # Items that arrive without our credit (a channel's first payload).
        self._outstanding_free = outstanding_free
        self.done = False
        self.error: BaseException | None = None

    def push(self, payload: Payload) -> None:
        self._items.append(payload)
        self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        if not self.done:
            self.done = True
            self.error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Payload:
        while True:
            if self._items:
                payload = self._items.popleft()
                self._account()
                return payload
            if self.done:
                if self.error is not None:
                    raise self.error
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _account(self) -> None:
        if self._outstanding_free:
            self._outstanding_free -= 1
            if self._outstanding_free == 0 and not self.done:
                # The free first payload is used; now grant the real window (D-12 style).
                self._session._request_n(self.stream_id, self._limit)
            return
        if self._limit >= UNBOUNDED or self.done:
            return
        self._consumed += 1
        # Never more than `limit` outstanding: only what was consumed is asked for again.
        if self._consumed >= self._low_tide:
            self._session._request_n(self.stream_id, self._consumed)
            self._consumed = 0


class RequestStream(AsyncIterator[Payload]):
    """Payloads of a request/stream or request/channel, as an async iterator.

    Pulling drives REQUEST_N.  Breaking out of the loop (once the iterator is
    dropped), calling :meth:`cancel` / :meth:`aclose`, leaving ``async with``,
    or cancelling the consuming task sends CANCEL.
    """

    def __init__(self, inbound: _Inbound, on_cancel: Callable[[], None]) -> None:
        self._inbound = inbound
        self._on_cancel = on_cancel
        self._cancelled = False

    def __aiter__(self) -> RequestStream:
        return self

    async def __anext__(self) -> Payload:
        inbound = self._inbound
        items = inbound._items
        if items:
            # Fast path: an item is waiting, so no nested coroutine and no suspension.
            payload = items.popleft()
            consumed = inbound._consumed + 1
            if consumed < inbound._low_tide and not inbound._outstanding_free:
                # _account's common case, inlined: nothing to ask for yet.  (An unbounded or
                # finished stream asks for nothing either; counting it up changes nothing.)
                inbound._consumed = consumed
            else:
                inbound._account()
            return payload
        try:
            return await inbound.get()
        except asyncio.CancelledError:
            self.cancel()
            raise

    @property
    def stream_id(self) -> int:
        return self._inbound.stream_id

    def cancel(self) -> None:
        """Stop receiving; sends CANCEL if the stream is still open (idempotent)."""
        if self._cancelled or self._inbound.done:
            return
        self._cancelled = True
        self._on_cancel()

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> RequestStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cancel()

    def __del__(self) -> None:
        # Dropped without being finished (e.g. `break`): the peer must stop sending.
        if not self._cancelled and not self._inbound.done:
            with contextlib.suppress(Exception):
                self.cancel()


class _Stream:
    """What the session tracks for one stream id."""

    __slots__ = ("credit_waiter", "inbound", "response", "task")

    def __init__(self) -> None:
        self.response: asyncio.Future[Payload] | None = None
        self.inbound: weakref.ReferenceType[_Inbound] | _Inbound | None = None
        self.task: asyncio.Task[None] | None = None
        self.credit_waiter: asyncio.Future[None] | None = None

    def inbound_queue(self) -> _Inbound | None:
        inbound = self.inbound
        if isinstance(inbound, weakref.ReferenceType):
            return inbound()
        return inbound


class RSocket:
    """One RSocket connection: call the peer with the ``request_*`` methods, serve it with a handler."""

    def __init__(
        self,
        transport: FrameTransport,
        connection: Connection,
        *,
        handler: RequestHandler | None = None,
        acceptor: Acceptor | None = None,
        frame_logger: FrameLogger | None = None,
        lease: LeaseConfig | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._resumable = transport if isinstance(transport, ResumableTransport) else None
        if self._resumable is not None:
            self._resumable.on_resumed = self._on_link_resumed
        if frame_logger is not None:
            transport = FrameLoggingTransport(transport, frame_logger)
        self._transport = transport
        self._conn = connection
        self._handler = handler if handler is not None else RequestHandler()
        self._acceptor = acceptor
        self._streams: dict[int, _Stream] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flush_handle: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._paused_frames: list[memoryview] | None = None
        self._handlers_full = False
        # Whether eager handlers start inline in the batch of events being dispatched.
        self._inline_batch = False
        # Set while _after_io dispatches events: it writes whatever they queue right after.
        self._write_follows = False
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._close_error: BaseException | None = None
        self._setup_done: asyncio.Future[None] = self._loop.create_future()
        self._lease_config = lease
        # Set once the connection has leasing on (SU-9): a client at start, a server at accept.
        self._leasing: Leasing | None = None
        self._dispatch: dict[type, Callable[[Any], None]] = {
            PayloadReceived: self._on_payload,
            RequestNReceived: self._on_request_n,
            RequestReceived: self._on_request,
            CancelReceived: self._on_cancel,
            ErrorReceived: self._on_error,
            MetadataPushReceived: self._on_metadata_push,
            SetupReceived: self._on_setup,
            ConnectionClosed: self._on_closed,
            GracefulCloseReceived: self._on_graceful_close,
            LeaseReceived: self._on_lease,
            PeerSilent: self._on_peer_silent,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Attach to the transport and begin (clients send SETUP here)."""
        self._conn.start(self._loop.time())
        if self._conn.leasing:
            self._start_leasing()
        self._transport.attach(self)
        self._after_io()

    @property
    def connection(self) -> Connection:
        """The sans-IO engine underneath, for inspection."""
        return self._conn

    @property
    def transport(self) -> FrameTransport:
        return self._transport

    @property
    def resume_stats(self) -> ResumeStats | None:
        """Positions, retained bytes and link history of a resumable session; None if not resumable."""
        return self._resumable.stats if self._resumable is not None else None

    @property
    def lease(self) -> LeaseInfo | None:
        """What the peer's lease still allows our requests (LE-4); None without leasing, or
        before the peer's first LEASE."""
        return self._leasing.lease if self._leasing is not None else None

    @property
    def granted_lease(self) -> LeaseInfo | None:
        """Our lease to the peer as it stands; None without leasing, or before our first grant."""
        return self._leasing.granter.granted if self._leasing is not None else None

    async def wait_lease(self) -> LeaseInfo:
        """Return the next LEASE the peer sends; raises if the connection ends first."""
        if self._leasing is None:
            raise LocalProtocolError("leasing is off on this connection (see lease= of connect and serve)")
        self._check_open()
        return await self._leasing.wait_next()

    def _start_leasing(self) -> None:
        leasing = self._leasing = Leasing(self._lease_config or LeaseConfig(), self._conn, self._flush_soon)
        leasing.start(self._spawn)

    @property
    def is_closed(self) -> bool:
        return self._closed.done()

    @property
    def close_error(self) -> BaseException | None:
        """Why the connection ended (the peer's ERROR, or ConnectionLostError); None while it is open."""
        return self._close_error if self._closed.done() else None

    async def wait_closed(self) -> None:
        """Return once the connection is over and its transport closed (a short, bounded linger)."""
        await asyncio.shield(self._closed)
        await self._transport.wait_closed()

    async def wait_setup(self) -> None:
        """Server side: return once the SETUP is accepted (raises if the connection ended first)."""
        await asyncio.shield(self._setup_done)

    def close(self) -> None:
        """Close the connection now; requests still open fail with ConnectionLostError."""
        if not self._conn.is_closed:
            self._conn.close()
            self._after_io()
        self._transport.close()

    async def aclose(self) -> None:
        """Close now and wait until the transport has released its socket too."""
        self.close()
        await self.wait_closed()

    async def close_gracefully(self, message: str = "") -> None:
        """Send ERROR[CONNECTION_CLOSE], let open streams finish, then close (REJECTED for new requests)."""
        if not self._conn.is_closed:
            self._conn.close_gracefully(message)
            self._after_io()
        await self.wait_closed()

    async def __aenter__(self) -> RSocket:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ requester API

    def _check_open(self) -> None:
        if self._conn.is_closed:
            raise self._close_error or ConnectionLostError("the connection is closed")

    async def request_response(self, payload: Payload) -> Payload:
        """Send one request, wait for its response; empty completions give ``Payload()``."""
        self._check_open()
        now = None if self._leasing is None else await self._await_lease()
        stream_id = self._conn.request_response(payload.data, payload.metadata, now=now)
        state = self._streams[stream_id] = _Stream()
        future: asyncio.Future[Payload] = self._loop.create_future()
        state.response = future
        self._flush_soon()
        try:
            return await future
        except asyncio.CancelledError:
            if self._conn.send_cancel(stream_id):
                self._flush_soon()
            raise
        finally:
            self._streams.pop(stream_id, None)

    async def fire_and_forget(self, payload: Payload) -> None:
        self._check_open()
        now = None if self._leasing is None else await self._await_lease()
        self._conn.request_fire_and_forget(payload.data, payload.metadata, now=now)
        self._flush_soon()

    async def metadata_push(self, metadata: bytes) -> None:
        self._check_open()
        self._conn.metadata_push(metadata)
        self._flush_soon()

    def request_stream(
        self,
        payload: Payload,
        *,
        limit_rate: int | None = DEFAULT_LIMIT_RATE,
        low_tide: int | None = None,
    ) -> RequestStream:
        """Open a stream.

        ``limit_rate`` is the request-n window and so the most items ever buffered
        (None: unbounded demand, 2^31-1); once ``low_tide`` of them (default 75%) are
        consumed, that many are requested again, as reactor's ``limitRate`` does.
        """
        self._check_open()
        limit, low_tide = _check_limit(limit_rate, low_tide)
        if self._leasing is not None and not self._leasing.received:
            return self._open_after_first_lease(
                lambda now: self._conn.request_stream(
                    payload.data, payload.metadata, initial_n=limit, now=now
                ),
                limit,
                low_tide,
            )
        stream_id = self._conn.request_stream(
            payload.data, payload.metadata, initial_n=limit, now=self._lease_now()
        )
        return self._open_requester_stream(stream_id, limit, low_tide)

    def request_channel(
        self,
        payload: Payload,
        outbound: AsyncIterable[Payload] | None = None,
        *,
        limit_rate: int | None = DEFAULT_LIMIT_RATE,
        low_tide: int | None = None,
    ) -> RequestStream:
        """Open a channel: ``payload`` goes with REQUEST_CHANNEL, then ``outbound`` as credit allows.

        Without ``outbound`` the requester's half completes with the first payload.
        ``limit_rate`` and ``low_tide`` bound the inbound half as for :meth:`request_stream`.
        """
        self._check_open()
        limit, low_tide = _check_limit(limit_rate, low_tide)
        if self._leasing is not None and not self._leasing.received:
            return self._open_after_first_lease(
                lambda now: self._conn.request_channel(
                    payload.data, payload.metadata, initial_n=limit, complete=outbound is None, now=now
                ),
                limit,
                low_tide,
                outbound,
            )
        stream_id = self._conn.request_channel(
            payload.data, payload.metadata, initial_n=limit, complete=outbound is None, now=self._lease_now()
        )
        stream = self._open_requester_stream(stream_id, limit, low_tide)
        if outbound is not None:
            state = self._streams[stream_id]
            state.task = self._spawn(self._pump(stream_id, outbound, state))
        return stream

    def _open_requester_stream(self, stream_id: int, limit: int, low_tide: int | None) -> RequestStream:
        inbound = _Inbound(self, stream_id, limit, low_tide=low_tide)
        self._attach_inbound(inbound)
        return RequestStream(inbound, functools.partial(self._cancel_requester, stream_id))

    def _attach_inbound(self, inbound: _Inbound) -> _Stream:
        state = self._streams[inbound.stream_id] = _Stream()
        # Weak: dropping the iterator must let it be collected, which sends CANCEL.
        state.inbound = weakref.ref(inbound)
        self._flush_soon()
        return state

    # ------------------------------------------------------------------ leases

    def _lease_now(self) -> float | None:
        return None if self._leasing is None else self._loop.time()

    async def _await_lease(self) -> float:
        """Wait for the peer's first LEASE if none came yet (SU-9); then the time to judge the
        lease by.  Without a lease left, the request then fails at once (LE-4)."""
        leasing = self._leasing
        assert leasing is not None
        if not leasing.received:
            await leasing.wait_first()
            self._check_open()
        return self._loop.time()

    def _open_after_first_lease(
        self,
        send: Callable[[float], int],
        limit: int,
        low_tide: int | None,
        outbound: AsyncIterable[Payload] | None = None,
    ) -> RequestStream:
        """A stream or channel whose request waits for the peer's first LEASE (SU-9).  The
        iterator is there at once (stream id 0 until the request goes); it fails with
        MissingLeaseError if no LEASE comes in time."""
        inbound = _Inbound(self, 0, limit, low_tide=low_tide)
        opening = self._spawn(self._open_leased(inbound, send, outbound))

        def cancelled(task: asyncio.Task[None]) -> None:
            # By the consumer (nothing was sent) or by the connection closing (say why); maybe
            # before the task ever ran, so its own code cannot be relied on to end the stream.
            if task.cancelled():
                inbound.finish(self.close_error)

        opening.add_done_callback(cancelled)

        def cancel() -> None:
            if inbound.stream_id:
                self._cancel_requester(inbound.stream_id)
            else:
                opening.cancel()

        return RequestStream(inbound, cancel)

    async def _open_leased(
        self, inbound: _Inbound, send: Callable[[float], int], outbound: AsyncIterable[Payload] | None
    ) -> None:
        try:
            await self._await_lease()
            stream_id = send(self._loop.time())
        except Exception as exc:
            inbound.finish(exc)
            return
        inbound.stream_id = stream_id
        state = self._attach_inbound(inbound)
        if outbound is not None:
            state.task = self._spawn(self._pump(stream_id, outbound, state))

    def _cancel_requester(self, stream_id: int) -> None:
        state = self._streams.pop(stream_id, None)
        if state is not None and state.task is not None:
            state.task.cancel()
        if self._conn.send_cancel(stream_id):
            self._flush_soon()

    async def _pump(self, stream_id: int, outbound: AsyncIterable[Payload], state: _Stream) -> None:
        """Send a channel's outbound payloads as the peer grants credit."""
        try:
            async for item in outbound:
                if not self._send_item(stream_id, item) and not await self._send_later(
                    stream_id, state, item
                ):
                    return
            if self._conn.send_complete(stream_id):
                self._flush_soon()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # RC-6: the requester's own failure ends the channel with APPLICATION_ERROR.
            if self._conn.send_error(stream_id, ErrorCode.APPLICATION_ERROR, _error_message(exc)):
                self._flush_soon()
            self._fail_stream(stream_id, exc)

    # ------------------------------------------------------------------ credit and writing

    async def _wait_credit(self, stream_id: int, state: _Stream) -> bool:
        """Wait until we may send one payload; False if the stream has ended meanwhile."""
        while True:
            stream = self._conn.stream(stream_id)
            if stream is None or not stream.outbound_open:
                return False
            if stream.send_credit > 0:
                return True
            state.credit_waiter = self._loop.create_future()
            try:
                await state.credit_waiter
            finally:
                state.credit_waiter = None

    def _send_item(self, stream_id: int, item: Payload) -> bool:
        """Send at once when credit allows and the transport is not full; False: use _send_later."""
        stream = self._conn.stream(stream_id)
        if stream is None or stream.send_credit <= 0 or self._transport.write_paused:
            return False
        self._conn.send_payload(stream_id, item.data, item.metadata)
        if self._conn.bytes_to_send >= _FLUSH_BYTES:
            self._flush()
        elif self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)
        return True

    async def _send_later(self, stream_id: int, state: _Stream, item: Payload) -> bool:
        if not await self._wait_credit(stream_id, state):
            return False
        self._conn.send_payload(stream_id, item.data, item.metadata)
        await self._after_send()
        return True

    async def _after_send(self) -> None:
        if self._conn.bytes_to_send >= _FLUSH_BYTES:
            self._flush()
        else:
            self._flush_soon()
        if self._transport.write_paused:
            self._flush()
            await self._transport.wait_writable()

    def _request_n(self, stream_id: int, n: int) -> None:
        if self._conn.send_request_n(stream_id, n):
            self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flush_handle is None and not self._write_follows:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        handle = self._flush_handle
        if handle is not None:
            handle.cancel()
            self._flush_handle = None
        out = self._conn.data_to_send()
        if out:
            self._transport.write_frames(out)
        self._dispatch_events()

    def _after_io(self) -> None:
        # What handlers queue while the events are dispatched leaves in the write below, in
        # this loop pass: a flush scheduled for the next pass would cost a loop iteration (an
        # epoll_wait) per request.
        outer, self._write_follows = self._write_follows, True
        try:
            self._dispatch_events()
        finally:
            self._write_follows = outer
        out = self._conn.data_to_send()
        if out:
            self._transport.write_frames(out)
        self._schedule_timer()

    def _schedule_timer(self) -> None:
        when = self._conn.next_timer()
        timer = self._timer
        if when is None:
            if timer is not None:
                timer.cancel()
                self._timer = None
            return
        if timer is not None:
            if timer.when() <= when:
                return  # an earlier wake-up re-arms itself for the later deadline
            timer.cancel()
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._conn.handle_timer(self._loop.time())
        self._after_io()

    # ------------------------------------------------------------------ transport callbacks

    def frames_received(self, frames: list[memoryview]) -> None:
        if self._paused_frames is not None:
            self._paused_frames.extend(frames)
            return
        self._receive(frames)

    def _receive(self, frames: list[memoryview]) -> None:
        conn = self._conn
        now = self._loop.time()
        for index, frame in enumerate(frames):
            conn.receive_frame(frame, now)
            if conn.state is ConnectionState.SETUP_PENDING:
                # Hold the rest until the acceptor decides; reading stops meanwhile.
                self._paused_frames = frames[index + 1 :]
                self._transport.pause_reading()
                break
        self._after_io()

    def framing_failed(self, exc: ProtocolError) -> None:
        self._conn.close(ErrorCode(exc.error_code), exc.message)
        self._after_io()
        self._transport.close()

    def transport_lost(self, exc: BaseException | None) -> None:
        if isinstance(exc, ErrorFrameReceived):
            self._conn.connection_lost(exc.message, int(exc.code))
        elif isinstance(exc, ConnectionLostError):
            self._conn.connection_lost(str(exc))
        else:
            self._conn.connection_lost()
        self._dispatch_events()

    # ------------------------------------------------------------------ events

    def _dispatch_events(self) -> None:
        events = self._conn.events()
        if events:
            self._inline_batch = self._may_run_inline()
            dispatch = self._dispatch
            for event in events:
                dispatch[type(event)](event)

    def _on_payload(self, event: PayloadReceived) -> None:
        state = self._streams.get(event.stream_id)
        if state is None:
            return
        future = state.response
        if future is not None:
            if not future.done():
                future.set_result(Payload(event.data, event.metadata))
            return
        inbound = state.inbound
        if isinstance(inbound, weakref.ReferenceType):
            inbound = inbound()
        if inbound is None:
            return
        if event.next:
            # _Inbound.push, inlined: this runs for every item of every stream.
            inbound._items.append(Payload(event.data, event.metadata))
            waiter = inbound._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        if event.complete:
            inbound.finish()
            self._forget_if_finished(event.stream_id, state)

    def _forget_if_finished(self, stream_id: int, state: _Stream) -> None:
        if self._conn.stream(stream_id) is None and (state.task is None or state.task.done()):
            self._streams.pop(stream_id, None)

    def _on_request_n(self, event: RequestNReceived) -> None:
        state = self._streams.get(event.stream_id)
        if state is not None:
            waiter = state.credit_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _on_cancel(self, event: CancelReceived) -> None:
        state = self._streams.get(event.stream_id)
        if state is None:
            return
        if state.task is not None:
            state.task.cancel()
        if self._conn.stream(event.stream_id) is None:
            inbound = state.inbound_queue()
            if inbound is not None:
                inbound.finish()
            self._streams.pop(event.stream_id, None)

    def _on_error(self, event: ErrorReceived) -> None:
        self._fail_stream(event.stream_id, error_from_code(event.error_code, event.message))

    def _fail_stream(self, stream_id: int, error: BaseException) -> None:
        state = self._streams.pop(stream_id, None)
        if state is None:
            return
        if state.response is not None and not state.response.done():
            state.response.set_exception(error)
        inbound = state.inbound_queue()
        if inbound is not None:
            inbound.finish(error)
        if state.task is not None and state.task is not asyncio.current_task():
            state.task.cancel()

    def _on_closed(self, event: ConnectionClosed) -> None:
        if event.error_code is None:
            error: BaseException = ConnectionLostError(event.message)
        else:
            error = error_from_code(event.error_code, event.message)
        self._close_error = error
        for stream_id in list(self._streams):
            self._fail_stream(stream_id, error)
        if self._leasing is not None:
            self._leasing.close(error)
        for task in list(self._tasks):
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._setup_done.done():
            self._setup_done.set_exception(error)
            self._setup_done.exception()  # retrieved: nobody may be waiting
        out = self._conn.data_to_send()
        if out:
            self._transport.write_frames(out)
        self._transport.close()
        if not self._closed.done():
            self._closed.set_result(None)

    def _on_graceful_close(self, event: GracefulCloseReceived) -> None:
        logger.debug("peer is closing gracefully: %s", event.message)

    def _on_lease(self, event: LeaseReceived) -> None:
        # The connection reports a LEASE only when leasing is on, and then _leasing is set.
        if self._leasing is not None:
            self._leasing.lease_received()

    def _on_link_resumed(self) -> None:
        self._conn.link_resumed(self._loop.time())
        if self._leasing is not None:
            self._leasing.resumed(self._spawn)
        self._after_io()

    def _on_peer_silent(self, event: PeerSilent) -> None:
        if self._resumable is not None:
            self._resumable.drop_link(f"nothing from the peer for {event.silent_ms} ms")

    def _on_metadata_push(self, event: MetadataPushReceived) -> None:
        self._spawn(self._run_quietly(self._handler.metadata_push(event.metadata), "metadata push"))

    # ------------------------------------------------------------------ responder side

    def _on_setup(self, event: SetupReceived) -> None:
        self._spawn(self._accept(event))

    async def _accept(self, event: SetupReceived) -> None:
        info = ConnectionSetup(
            event.setup,
            self._transport.get_extra_info("peername"),
            self._transport.get_extra_info("peercert"),
        )
        try:
            if self._acceptor is not None:
                handler = await self._acceptor(info, self)
                if handler is not None:
                    self._handler = handler
        except ErrorFrameReceived as exc:
            code = ErrorCode.REJECTED_SETUP
            if exc.code in (ErrorCode.INVALID_SETUP, ErrorCode.UNSUPPORTED_SETUP):
                code = ErrorCode(exc.code)
            self._conn.reject_setup(code, exc.message)
            self._after_io()
            return
        except Exception as exc:
            logger.info("setup rejected by acceptor: %r", exc)
            self._conn.reject_setup(ErrorCode.REJECTED_SETUP, _error_message(exc))
            self._after_io()
            return
        if self._conn.state is not ConnectionState.SETUP_PENDING:
            return
        self._conn.accept_setup()
        if self._conn.leasing:
            self._start_leasing()
        if not self._setup_done.done():
            self._setup_done.set_result(None)
        pending, self._paused_frames = self._paused_frames or [], None
        self._transport.resume_reading()
        self._receive(pending)

    def _on_request(self, event: RequestReceived) -> None:
        payload = Payload(event.data, event.metadata)
        kind = event.kind
        stream_id = event.stream_id
        # Eager handlers take their first step here; a task carries on only if they suspend.
        # The connection may have closed earlier in the same batch, which would cancel the
        # task before it ran: such handlers are not started inline either.
        inline = self._inline_batch and not self._conn.is_closed
        if kind is RequestKind.FIRE_AND_FORGET:
            work = self._handler.fire_and_forget(payload)
            if inline and isinstance(work, types.CoroutineType):
                task = self._start_fire_and_forget(work)
                if task is None:
                    return
            else:
                task = self._loop.create_task(self._run_quietly(work, "fire-and-forget"))
            self._tasks.add(task)
            if self._leasing is not None:
                self._leasing.track(task)
            if len(self._tasks) >= self._conn.config.max_streams and not self._handlers_full:
                # A flood of slow handlers must not grow without bound: stop reading (TCP pushes
                # back on the sender) instead of dropping what already arrived.
                self._handlers_full = True
                self._transport.pause_reading()
            return
        state = self._streams[stream_id] = _Stream()
        if kind is RequestKind.REQUEST_RESPONSE:
            # Tracked by its stream alone (the close path cancels it from there): no set, no
            # done callback, which cost more than the rest of a small request/response.
            response = self._handler.request_response(payload)
            if (
                inline
                and isinstance(response, types.CoroutineType)
                and self._conn.stream(stream_id) is not None
            ):
                state.task = self._start_response(stream_id, response)
                if state.task is None:
                    return
            else:
                state.task = self._loop.create_task(self._respond(stream_id, response))
        elif kind is RequestKind.REQUEST_STREAM:
            state.task = self._spawn(
                self._produce(stream_id, state, functools.partial(self._handler.request_stream, payload))
            )
        else:
            inbound = _Inbound(self, stream_id, DEFAULT_LIMIT_RATE, outstanding_free=1)
            inbound.push(payload)
            if event.complete:
                inbound.finish()
            state.inbound = inbound
            iterator = RequestStream(inbound, functools.partial(self._cancel_inbound_half, stream_id))
            state.task = self._spawn(
                self._produce(
                    stream_id, state, functools.partial(self._handler.request_channel, payload, iterator)
                )
            )
        if self._leasing is not None:
            self._leasing.track(state.task)

    def _cancel_inbound_half(self, stream_id: int) -> None:
        if self._conn.send_cancel(stream_id):
            self._flush_soon()

    async def _respond(self, stream_id: int, response: Awaitable[Payload | None]) -> None:
        try:
            result = _checked_response(await response)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._answer_error(stream_id, exc)
            return
        finally:
            self._streams.pop(stream_id, None)
        if self._transport.write_paused:
            # Request-n does not bound responses; the socket does: a peer that stops reading
            # makes its responders wait here instead of piling answers into our send buffer.
            await self._transport.wait_writable()
        self._send_response(stream_id, result)

    def _send_response(self, stream_id: int, result: Payload | None) -> None:
        if result is None:
            self._conn.send_complete(stream_id)
        else:
            self._conn.send_payload(stream_id, result.data, result.metadata, complete=True)
        if self._conn.bytes_to_send >= _FLUSH_BYTES:
            self._flush()
        else:
            self._flush_soon()

    async def _respond_when_writable(self, stream_id: int, result: Payload | None) -> None:
        await self._transport.wait_writable()
        self._send_response(stream_id, result)

    async def _produce(
        self,
        stream_id: int,
        state: _Stream,
        make: Callable[[], AsyncIterable[Payload] | Awaitable[AsyncIterable[Payload]]],
    ) -> None:
        opened: list[AsyncIterator[Payload]] = []
        cancelled = False
        try:
            await self._produce_items(stream_id, state, make, opened)
        except asyncio.CancelledError:
            cancelled = True
        except Exception as exc:
            self._answer_error(stream_id, exc)
        # The clean-up awaits outside the handlers above, so no exception is held across the
        # await: compiled by mypyc, an except or finally block that awaits keeps the exception,
        # and through its traceback the handler's frames and this session, alive for good.
        if opened and hasattr(opened[0], "aclose"):
            with contextlib.suppress(Exception):
                await opened[0].aclose()
        stream = self._conn.stream(stream_id)
        if stream is not None and stream.inbound_open and not stream.outbound_open:
            # Our half is done and nobody will read the rest: stop the requester (D-12).
            self._cancel_inbound_half(stream_id)
        if self._conn.stream(stream_id) is None:
            self._streams.pop(stream_id, None)
        if cancelled:
            raise asyncio.CancelledError

    async def _produce_items(
        self,
        stream_id: int,
        state: _Stream,
        make: Callable[[], AsyncIterable[Payload] | Awaitable[AsyncIterable[Payload]]],
        opened: list[AsyncIterator[Payload]],
    ) -> None:
        source = make()
        if inspect.isawaitable(source):
            source = await source
        iterator = aiter(source)
        opened.append(iterator)
        conn = self._conn
        streams = conn._streams
        transport = self._transport
        async for item in iterator:
            # _send_item, inlined for the per-item path: credit, and a transport not full.
            stream = streams.get(stream_id)
            if stream is not None and stream.send_credit > 0 and not transport.write_paused:
                conn.send_payload(stream_id, item.data, item.metadata)
                if conn._out_bytes >= _FLUSH_BYTES:
                    self._flush()
                elif self._flush_handle is None:
                    self._flush_handle = self._loop.call_soon(self._flush)
            elif not await self._send_later(stream_id, state, item):
                return
        if self._conn.send_complete(stream_id):
            self._flush_soon()

    def _answer_error(self, stream_id: int, exc: Exception) -> None:
        if isinstance(exc, ErrorFrameReceived):
            code = int(exc.code)
            message = exc.message
        else:
            code = ErrorCode.APPLICATION_ERROR
            message = _error_message(exc)
            logger.debug("responder for stream %d failed", stream_id, exc_info=exc)
        if self._conn.send_error(stream_id, code, message):
            self._flush_soon()
        inbound = self._streams.pop(stream_id, _Stream()).inbound_queue()
        if inbound is not None:
            inbound.finish(ApplicationError("stream ended"))

    async def _run_quietly(self, work: Awaitable[None], what: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            # FF-2: there is nobody to tell on the wire.
            logger.exception("%s handler failed", what)
        finally:
            self._tasks.discard(asyncio.current_task(self._loop))
            if self._handlers_full and len(self._tasks) <= self._conn.config.max_streams // 2:
                self._handlers_full = False
                self._transport.resume_reading()

    def _may_run_inline(self) -> bool:
        """Whether eager handlers may start inline in this dispatch: outside any task, no task
        factory of the loop's to honour, and no leasing (whose strategies count handler tasks)."""
        return (
            self._handler.eager
            and self._leasing is None
            and asyncio.current_task(self._loop) is None
            and self._loop.get_task_factory() is None
        )

    def _first_step(self, coro: Coroutine[Any, Any, T]) -> tuple[contextvars.Context, Any]:
        """Run ``coro`` until it first suspends, as Python 3.12's eager tasks do, in a copy of
        the current context as a task would: (that context, what it awaits).  StopIteration
        and the coroutine's exceptions propagate."""
        context = contextvars.copy_context()
        return context, context.run(coro.send, None)

    def _start_fire_and_forget(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        """A fire-and-forget handler, inline: the task carrying it on if it suspended."""
        try:
            context, awaiting = self._first_step(coro)
        except (StopIteration, asyncio.CancelledError):
            return None  # done, or cancelled itself: nobody waits for it either way
        except Exception:
            logger.exception("fire-and-forget handler failed")  # FF-2: nobody to tell on the wire
            return None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            _report_escaped(self._loop, exc)
            return None
        rest = cast(Coroutine[Any, Any, None], _carry_on(coro, awaiting))
        return self._loop.create_task(self._run_quietly(rest, "fire-and-forget"), context=context)

    def _start_response(
        self, stream_id: int, coro: Coroutine[Any, Any, Payload | None]
    ) -> asyncio.Task[None] | None:
        """A request/response handler, inline: the task carrying it on if it suspended, or
        if its answer must wait for the transport."""
        try:
            context, awaiting = self._first_step(coro)
        except StopIteration as stop:
            try:
                result = _checked_response(stop.value)
            except TypeError as exc:
                self._answer_error(stream_id, exc)
                return None
            self._streams.pop(stream_id, None)
            if self._transport.write_paused:
                return self._loop.create_task(self._respond_when_writable(stream_id, result))
            self._send_response(stream_id, result)
            return None
        except asyncio.CancelledError:
            self._streams.pop(stream_id, None)  # as a task cancelling itself
            return None
        except Exception as exc:
            self._answer_error(stream_id, exc)
            return None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._streams.pop(stream_id, None)
            _report_escaped(self._loop, exc)
            return None
        rest = cast(Coroutine[Any, Any, Payload | None], _carry_on(coro, awaiting))
        return self._loop.create_task(self._respond(stream_id, rest), context=context)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _check_limit(limit_rate: int | None, low_tide: int | None) -> tuple[int, int | None]:
    if limit_rate is None:
        return UNBOUNDED, None
    if not 1 <= limit_rate <= UNBOUNDED:
        raise LocalProtocolError(f"limit_rate must be in 1..2^31-1 or None, not {limit_rate}")
    if low_tide is not None and not 1 <= low_tide <= limit_rate:
        raise LocalProtocolError(f"low_tide must be in 1..limit_rate ({limit_rate}), not {low_tide}")
    return limit_rate, low_tide


__all__ = ["Acceptor", "RSocket", "RSocketError", "RequestStream"]
