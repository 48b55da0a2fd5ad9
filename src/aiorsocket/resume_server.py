"""The server side of resumption: a store of sessions by token, and the first frame of
every new connection deciding where it goes (a new session, or an old one to resume).

A new connection's first frame is read here before any session sees it:

* SETUP with the R flag: a new resumable session, registered under its token
  (a token already in use is refused with REJECTED_SETUP, SU-13);
* RESUME: handed to the session holding that token, which checks the
  positions (RE-6) and answers RESUME_OK or ERROR[REJECTED_RESUME]; an unknown
  token gets REJECTED_RESUME (RE-5).  A RESUME for a session whose old link
  still looks alive (a link dropped without a FIN) replaces that link;
* anything else: an ordinary session, which answers it as the spec says.

A detached session waits ``session_lifetime`` seconds for its RESUME, then ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

from .errors import ConnectionLostError, ErrorCode, FrameError
from .frames import ResumeFrame, ResumeOkFrame, SetupFrame, decode_frame, encode_frame
from .frames.types import FLAG_RESUME_ENABLE, FrameType
from .protocol.resume import resume_refusal
from .resume import ResumableTransport, ResumeConfig, refuse_link
from .transports.base import FrameReceiver, FrameTransport

logger = logging.getLogger("aiorsocket.resume")

_SETUP: Final = int(FrameType.SETUP)
_RESUME: Final = int(FrameType.RESUME)
#: rsocket-js 1.0.0-alpha.3 writes its RESUME version fields swapped: 0.1 for 1.0 (peers.md).
_ACCEPTED_RESUME_VERSIONS: Final = frozenset({(1, 0), (0, 1)})

#: Builds and starts the session for a new connection, given its transport and whether it is
#: resumable, and returns it (it takes the connection's first frames).
SessionStarter = Callable[[FrameTransport, bool], FrameReceiver]


class ServerResumableTransport(ResumableTransport):
    """The server side: a lost link leaves the session waiting for a RESUME, for a while."""

    def __init__(
        self, link: FrameTransport, token: bytes, config: ResumeConfig, sessions: ResumeSessions
    ) -> None:
        super().__init__(link, token, config)
        self._sessions = sessions
        self._expiry: asyncio.TimerHandle | None = None

    def _detached(self) -> None:
        self._expiry = self._loop.call_later(self.config.session_lifetime, self._expire)

    def _stop_waiting(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._sessions.forget(self)

    def _expire(self) -> None:
        self._expiry = None
        self._end(
            ConnectionLostError(
                f"no RESUME within the session lifetime of {self.config.session_lifetime:g} s"
            )
        )

    def resume(self, transport: FrameTransport, frame: ResumeFrame, rest: list[memoryview]) -> None:
        """RE-6: take over ``transport`` if the client's positions allow it, else refuse and end."""
        retained = self._retained
        refusal = resume_refusal(frame, retained, self._implied)
        resend = retained.frames_after(frame.last_received_server_position) if refusal is None else None
        if resend is None:
            message = refusal or "the client's position falls inside a frame (RE-6)"
            logger.info("refusing to resume session %s: %s", self.token.hex(), message)
            refuse_link(transport, ErrorCode.REJECTED_RESUME, message)
            self._end(ConnectionLostError(f"resume refused: {message}"))
            return
        old = self._link
        if old is not None:
            # The client is back on a new link, so the old one is dead whatever it looks like.
            self._link = None
            old.transport.abort()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        ok = encode_frame(ResumeOkFrame(self._implied))
        self._use_link(transport, [ok, *resend], rest)
        logger.info("session %s resumed (%d frames sent again)", self.token.hex(), len(resend))


class ResumeSessions:
    """Resumable sessions by token, and the router for new connections' first frames."""

    def __init__(self, config: ResumeConfig) -> None:
        self.config = config
        self._sessions: dict[bytes, ServerResumableTransport] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[ServerResumableTransport]:
        return list(self._sessions.values())

    def forget(self, session: ServerResumableTransport) -> None:
        if self._sessions.get(session.token) is session:
            del self._sessions[session.token]

    def accept(self, transport: FrameTransport, start: SessionStarter) -> None:
        """Route ``transport`` by its first frame (see the module doc)."""
        transport.attach(_FirstFrame(self, transport, start))

    def route(self, transport: FrameTransport, frames: list[memoryview], start: SessionStarter) -> None:
        """Hand ``frames``, the first of a connection, to where they belong."""
        first = frames[0]
        kind = first[4] >> 2 if len(first) >= 6 else -1
        if kind == _RESUME:
            self._resume(transport, first, frames[1:])
            return
        if kind == _SETUP and int.from_bytes(first[4:6], "big") & FLAG_RESUME_ENABLE:
            try:
                setup = decode_frame(first)
            except FrameError:
                pass  # not a valid SETUP: the ordinary session answers INVALID_SETUP
            else:
                assert isinstance(setup, SetupFrame)
                if setup.resume_token is not None:
                    self._new_session(transport, setup.resume_token, frames, start)
                    return
        start(transport, False).frames_received(frames)

    def _new_session(
        self, transport: FrameTransport, token: bytes, frames: list[memoryview], start: SessionStarter
    ) -> None:
        if token in self._sessions:
            refuse_link(transport, ErrorCode.REJECTED_SETUP, "this resume token is already in use (SU-13)")
            return
        session = ServerResumableTransport(transport, token, self.config, self)
        self._sessions[token] = session
        start(session, True)
        session.receive_first(frames)

    def _resume(self, transport: FrameTransport, first: memoryview, rest: list[memoryview]) -> None:
        try:
            frame = decode_frame(first)
        except FrameError as exc:
            refuse_link(transport, ErrorCode.CONNECTION_ERROR, f"malformed RESUME: {exc.message}")
            return
        assert isinstance(frame, ResumeFrame)
        if (frame.major, frame.minor) not in _ACCEPTED_RESUME_VERSIONS:
            refuse_link(
                transport,
                ErrorCode.REJECTED_RESUME,
                f"unsupported protocol version {frame.major}.{frame.minor} in RESUME (RE-4)",
            )
            return
        session = self._sessions.get(frame.resume_token)
        if session is None:
            refuse_link(transport, ErrorCode.REJECTED_RESUME, "unknown resume token (RE-5)")
            return
        session.resume(transport, frame, rest)


class _FirstFrame:
    """Holds a new connection until its first frames arrive, then routes them."""

    def __init__(self, sessions: ResumeSessions, transport: FrameTransport, start: SessionStarter) -> None:
        self._sessions = sessions
        self._transport = transport
        self._start = start

    def frames_received(self, frames: list[memoryview]) -> None:
        self._sessions.route(self._transport, frames, self._start)

    def framing_failed(self, exc: Any) -> None:
        self._transport.abort()

    def transport_lost(self, exc: BaseException | None) -> None:
        """Gone before saying anything: there is nothing to clean up."""
