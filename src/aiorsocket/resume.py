"""Session resumption (checklist §3.14): one RSocket session outliving the transports under it.

A :class:`ResumableTransport` sits between the session and the real transport
(the *link*), like rsocket-java's ResumableDuplexConnection.  The session sees
one transport for its whole life; underneath, links come and go:

* every tracked frame sent (stream id ≠ 0, D-14) is kept in a
  :class:`~aiorsocket.protocol.resume.RetainedFrames` store until the peer's
  KEEPALIVE position releases it; every tracked frame received advances the
  implied position, which our KEEPALIVEs carry (KA-5);
* when the link is lost, the session stays up: writes wait (the transport is
  "paused"), tracked frames are kept, untracked ones (KEEPALIVE, METADATA_PUSH,
  LEASE) are dropped as the spec allows;
* the client side then opens new links with backoff and sends RESUME; the
  server side waits up to the session lifetime for a RESUME naming its token
  (see :mod:`aiorsocket.resume_server`).  Both sides check the positions
  (RE-6, RE-7), send again exactly the frames the peer missed, and carry on.

Retained bytes are capped: past the cap the oldest frames go, and a resume that
would need them is refused with an error that says so, instead of memory growing.
Besides KEEPALIVE, we report our position after every quarter-cap of received
bytes (a KEEPALIVE with R=0, which no peer answers) so a fast stream does not
fill the peer's store between keepalives.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from .backoff import ReconnectPolicy
from .errors import ConnectionLostError, ErrorCode, FrameError, RejectedResumeError, error_from_code
from .frames import ErrorFrame, KeepaliveFrame, ResumeFrame, ResumeOkFrame, decode_frame, encode_frame
from .protocol.resume import (
    RetainedFrames,
    is_tracked,
    keepalive_position,
    resume_ok_refusal,
    with_keepalive_position,
)
from .transports.base import FrameReceiver, FrameTransport

logger = logging.getLogger("aiorsocket.resume")

DEFAULT_RETAINED_BYTES_CAP: Final = 16 * 1024 * 1024
_TOKEN_BYTES: Final = 16


class ResumeState(Enum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    """The link is gone; the session waits (client: between attempts to resume)."""
    RESUMING = "resuming"
    """Client: a new link is open and RESUME sent; waiting for RESUME_OK."""
    CLOSED = "closed"
    """For good: the session ended, or could not be resumed."""


StateCallback = Callable[[ResumeState], None]


@dataclass(frozen=True, slots=True)
class ResumeConfig:
    """Resumption settings for :func:`aiorsocket.connect` and :func:`aiorsocket.serve`.

    ``session_lifetime`` is how long a session survives without a link: a server
    keeps a detached session that long waiting for its RESUME; a client keeps
    trying to resume that long, waiting ``backoff`` between attempts.  It must
    cover the outages you want to ride out (RE-11).  ``retained_bytes_cap``
    bounds the frames kept for the peer on each session.
    """

    token: bytes | None = None
    """Client: the resume token (RE-12); None draws 16 unpredictable bytes."""
    retained_bytes_cap: int = DEFAULT_RETAINED_BYTES_CAP
    session_lifetime: float = 120.0
    backoff: ReconnectPolicy = field(
        default_factory=lambda: ReconnectPolicy(initial_backoff=0.05, max_backoff=1.0, connect_timeout=5.0)
    )
    on_state: StateCallback | None = None
    """Called with each :class:`ResumeState` the session's link goes through."""

    def __post_init__(self) -> None:
        if self.token is not None and not 1 <= len(self.token) <= 0xFFFF:
            raise ValueError(f"a resume token must be 1..65535 bytes, not {len(self.token)}")
        if self.retained_bytes_cap < 1:
            raise ValueError(f"retained_bytes_cap must be at least 1 byte, not {self.retained_bytes_cap}")
        if not (math.isfinite(self.session_lifetime) and self.session_lifetime > 0):
            raise ValueError(f"session_lifetime must be > 0 seconds, not {self.session_lifetime}")

    def new_token(self) -> bytes:
        return self.token if self.token is not None else secrets.token_bytes(_TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class ResumeStats:
    """A snapshot of one resumable session."""

    state: ResumeState
    disconnects: int
    """Links lost while the session was open."""
    resumes: int
    """Successful resume handshakes."""
    position: int
    """Tracked bytes sent (RE-2)."""
    implied_position: int
    """Tracked bytes received."""
    retained_bytes: int
    peak_retained_bytes: int
    evicted_bytes: int
    """Bytes dropped unacknowledged because of the cap: once any go, a resume may be refused."""


class _Link:
    """Receives from one link and tells the resumable transport which link spoke."""

    __slots__ = ("_owner", "transport")

    def __init__(self, owner: ResumableTransport, transport: FrameTransport) -> None:
        self._owner = owner
        self.transport = transport

    def frames_received(self, frames: list[memoryview]) -> None:
        self._owner._link_frames(self, frames)

    def framing_failed(self, exc: Any) -> None:
        self._owner._link_framing_failed(self, exc)

    def transport_lost(self, exc: BaseException | None) -> None:
        self._owner._link_lost(self, exc)


class ResumableTransport(FrameTransport):
    """The session's one transport; links underneath it come and go (see the module doc)."""

    def __init__(self, link: FrameTransport, token: bytes, config: ResumeConfig) -> None:
        self.token = token
        self.config = config
        self._loop = asyncio.get_running_loop()
        self._retained = RetainedFrames(config.retained_bytes_cap)
        self._implied = 0
        self._reported = 0
        self._report_step = max(1, config.retained_bytes_cap // 4)
        self._receiver: FrameReceiver | None = None
        self._link: _Link | None = _Link(self, link)
        self._last_transport = link
        self._state = ResumeState.CONNECTED
        self._connected = asyncio.Event()
        self._connected.set()
        self._reading_paused = False
        self._closing = False
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._disconnects = 0
        self._resumes = 0
        self.on_resumed: Callable[[], None] | None = None
        """Called once a new link carries the session (the session restarts its clocks)."""

    # ------------------------------------------------------------------ inspection

    @property
    def state(self) -> ResumeState:
        return self._state

    @property
    def stats(self) -> ResumeStats:
        retained = self._retained
        return ResumeStats(
            state=self._state,
            disconnects=self._disconnects,
            resumes=self._resumes,
            position=retained.position,
            implied_position=self._implied,
            retained_bytes=retained.retained_bytes,
            peak_retained_bytes=retained.peak_bytes,
            evicted_bytes=retained.evicted,
        )

    # ------------------------------------------------------------------ FrameTransport

    def attach(self, receiver: FrameReceiver) -> None:
        self._receiver = receiver
        link = self._link
        assert link is not None, "attach() comes before any link is lost"
        link.transport.attach(link)

    def write_frames(self, frames: list[bytes]) -> None:
        add = self._retained.add
        patched: list[bytes] | None = None
        for index, frame in enumerate(frames):
            if is_tracked(frame):
                add(frame)
            elif keepalive_position(frame) is not None:
                if patched is None:
                    patched = list(frames)
                patched[index] = with_keepalive_position(frame, self._implied)
                self._reported = self._implied
        link = self._link
        if link is not None and self._state is ResumeState.CONNECTED:
            link.transport.write_frames(patched if patched is not None else frames)

    @property
    def write_paused(self) -> bool:
        link = self._link
        return link is None or self._state is not ResumeState.CONNECTED or link.transport.write_paused

    async def wait_writable(self) -> None:
        while not self._closing:
            link = self._link
            if link is None or self._state is not ResumeState.CONNECTED:
                await self._connected.wait()
                continue
            if not link.transport.write_paused:
                return
            await link.transport.wait_writable()
            if link is self._link:
                return

    def pause_reading(self) -> None:
        self._reading_paused = True
        if self._link is not None:
            self._link.transport.pause_reading()

    def resume_reading(self) -> None:
        self._reading_paused = False
        if self._link is not None:
            self._link.transport.resume_reading()

    def close(self) -> None:
        self._shut(lambda transport: transport.close())

    def abort(self) -> None:
        self._shut(lambda transport: transport.abort())

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._last_transport.get_extra_info(name, default)

    # ------------------------------------------------------------------ driven by the session

    def drop_link(self, reason: str) -> None:
        """The current link is presumed dead (no keepalive for the max lifetime): abort it and resume."""
        link = self._link
        if link is not None and not self._closing:
            logger.info("dropping the link of session %s: %s", self.token.hex(), reason)
            link.transport.abort()

    def receive_first(self, frames: list[memoryview]) -> None:
        """Frames the server read off the first link before this transport took it over."""
        if self._link is not None:
            self._link_frames(self._link, frames)

    # ------------------------------------------------------------------ from the links

    def _link_frames(self, link: _Link, frames: list[memoryview]) -> None:
        if link is not self._link or self._receiver is None:
            return
        implied = self._implied
        release = self._retained.release
        for frame in frames:
            if is_tracked(frame):
                implied += len(frame)
            else:
                position = keepalive_position(frame)
                if position is not None:
                    release(position)
        self._implied = implied
        self._receiver.frames_received(frames)
        if implied - self._reported >= self._report_step and link is self._link:
            self._reported = implied
            link.transport.write_frames([encode_frame(KeepaliveFrame(implied, b"", False))])

    def _link_framing_failed(self, link: _Link, exc: Any) -> None:
        if link is self._link and self._receiver is not None:
            self._receiver.framing_failed(exc)

    def _link_lost(self, link: _Link, exc: BaseException | None) -> None:
        if link is not self._link:
            return  # a link we already replaced or gave up on
        self._link = None
        self._connected.clear()
        if self._closing:
            if self._receiver is not None:
                self._receiver.transport_lost(exc)
            self._finish()
            return
        self._disconnects += 1
        self._set_state(ResumeState.DISCONNECTED)
        logger.info("session %s lost its link (%r); keeping it for resumption", self.token.hex(), exc)
        self._detached()

    # ------------------------------------------------------------------ for the two sides

    def _detached(self) -> None:
        """The link is gone and the session is still wanted: start getting a new one."""
        raise NotImplementedError

    def _use_link(self, transport: FrameTransport, resend: list[bytes], rest: list[memoryview]) -> None:
        """Carry on over ``transport``: send ``resend`` (what the peer missed), then go live."""
        link = _Link(self, transport)
        self._link = link
        self._last_transport = transport
        self._resumes += 1
        if resend:
            transport.write_frames(resend)
        if self._reading_paused:
            transport.pause_reading()
        transport.attach(link)
        self._set_state(ResumeState.CONNECTED)
        self._connected.set()
        if self.on_resumed is not None:
            self.on_resumed()
        if rest and link is self._link:
            self._link_frames(link, rest)

    def _end(self, error: BaseException) -> None:
        """The session cannot go on: tell it why (it then closes us)."""
        if self._closing:
            return
        self._closing = True
        self._connected.set()
        link, self._link = self._link, None
        if link is not None:
            link.transport.abort()
        receiver = self._receiver
        if receiver is not None:
            receiver.transport_lost(error)
        self._finish()

    def _shut(self, how: Callable[[FrameTransport], None]) -> None:
        self._closing = True
        self._connected.set()  # wake writers: they find the session closed
        self._stop_waiting()
        link = self._link
        if link is not None:
            how(link.transport)
        elif not self._closed.done():
            if self._receiver is not None:
                self._receiver.transport_lost(None)
            self._finish()

    def _stop_waiting(self) -> None:
        """Cancel whatever the side does while detached (a resume task, a lifetime timer)."""

    def _finish(self) -> None:
        self._stop_waiting()
        self._set_state(ResumeState.CLOSED)
        if not self._closed.done():
            self._closed.set_result(None)

    def _set_state(self, state: ResumeState) -> None:
        if state is self._state:
            return
        self._state = state
        callback = self.config.on_state
        if callback is not None:
            try:
                callback(state)
            except Exception:
                logger.exception("resume state callback failed")


def refuse_link(transport: FrameTransport, code: ErrorCode, message: str) -> None:
    """End a resume handshake: RE-9 wants every ERROR then on stream 0, and the link closes."""
    transport.write_frames([encode_frame(ErrorFrame(0, code, message.encode("utf-8")))])
    transport.close()


LinkOpener = Callable[[], Awaitable[FrameTransport]]


class ClientResumableTransport(ResumableTransport):
    """The client side: when the link is lost, open new ones and RESUME until one works (RE-4)."""

    def __init__(self, link: FrameTransport, token: bytes, config: ResumeConfig, opener: LinkOpener) -> None:
        super().__init__(link, token, config)
        self._opener = opener
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random()

    def _detached(self) -> None:
        self._task = self._loop.create_task(self._resume())

    def _stop_waiting(self) -> None:
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _resume(self) -> None:
        policy = self.config.backoff
        deadline = self._loop.time() + self.config.session_lifetime
        last_problem = "no attempt made"
        attempt = 0
        while not self._closing:
            attempt += 1
            delay = policy.delay(attempt, self._rng)
            if self._loop.time() + delay >= deadline or (
                policy.max_attempts is not None and attempt > policy.max_attempts
            ):
                self._end(
                    ConnectionLostError(
                        f"could not resume within the session lifetime of {self.config.session_lifetime:g} s "
                        f"({attempt - 1} attempts; last: {last_problem})"
                    )
                )
                return
            await asyncio.sleep(delay)
            try:
                async with asyncio.timeout(policy.connect_timeout):
                    transport = await self._opener()
            except (OSError, TimeoutError) as exc:
                last_problem = f"connect failed: {exc!r}"
                continue
            problem = await self._handshake(transport)
            if problem is None:
                logger.info("session %s resumed after %d attempt(s)", self.token.hex(), attempt)
                return
            last_problem = problem
            if not self._closing:
                self._set_state(ResumeState.DISCONNECTED)

    async def _handshake(self, transport: FrameTransport) -> str | None:
        """RESUME on ``transport``; None once resumed (or ended for good), else why this attempt
        failed and another may work."""
        self._set_state(ResumeState.RESUMING)
        outcome: asyncio.Future[str | None] = self._loop.create_future()
        transport.attach(_Handshake(self, transport, outcome))
        retained = self._retained
        transport.write_frames(
            [encode_frame(ResumeFrame(self.token, self._implied, retained.first_available))]
        )
        try:
            async with asyncio.timeout(self.config.backoff.connect_timeout):
                return await outcome
        except TimeoutError:
            transport.abort()
            return "no RESUME_OK in time"
        except asyncio.CancelledError:
            # The session was closed mid-handshake: this link must not outlive it.
            if self._link is None or self._link.transport is not transport:
                transport.abort()
            raise

    def _resume_ok(self, transport: FrameTransport, frame: ResumeOkFrame, rest: list[memoryview]) -> None:
        """RE-7: check the server's position, resend what it missed and go live."""
        retained = self._retained
        received = frame.last_received_client_position
        refusal = resume_ok_refusal(received, retained)
        resend = retained.frames_after(received) if refusal is None else None
        if resend is None:
            message = refusal or f"the server's position {received} falls inside a frame (RE-7)"
            refuse_link(transport, ErrorCode.CONNECTION_ERROR, message)
            self._end(ConnectionLostError(f"cannot resume: {message}"))
            return
        self._use_link(transport, resend, rest)


class _Handshake:
    """Receives on a new client link until the server answers the RESUME."""

    def __init__(
        self, owner: ClientResumableTransport, transport: FrameTransport, outcome: asyncio.Future[str | None]
    ) -> None:
        self._owner = owner
        self._transport = transport
        self._outcome = outcome

    def _settle(self, problem: str | None) -> None:
        if not self._outcome.done():
            self._outcome.set_result(problem)

    def frames_received(self, frames: list[memoryview]) -> None:
        if self._outcome.done():
            return
        owner = self._owner
        try:
            first = decode_frame(frames[0])
        except FrameError as exc:
            self._transport.abort()
            self._settle(f"the server's answer to RESUME is malformed: {exc}")
            return
        if isinstance(first, ResumeOkFrame):
            owner._resume_ok(self._transport, first, frames[1:])
            self._settle(None)
            return
        self._transport.abort()
        if isinstance(first, ErrorFrame) and first.stream_id == 0:
            # RE-8: after REJECTED_RESUME (or any refusal) the client must not try again.
            error = error_from_code(first.error_code, first.message)
            if not isinstance(error, RejectedResumeError):
                error = RejectedResumeError(f"{type(error).__name__}: {first.message}")
            owner._end(error)
            self._settle(None)
            return
        self._settle(f"the server answered RESUME with {first.frame_type.name}")

    def framing_failed(self, exc: Any) -> None:
        self._transport.abort()
        self._settle(f"framing failed during the resume handshake: {exc}")

    def transport_lost(self, exc: BaseException | None) -> None:
        self._settle(f"the link was lost before RESUME_OK ({exc!r})")
