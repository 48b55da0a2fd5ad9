"""The RSocket connection as a sans-IO state machine.

Feed it whole frames (``receive_frame``), the passing of time (``handle_timer``)
and the loss of the transport (``connection_lost``); call its ``request_*`` and
``send_*`` methods to act; collect what happened with ``events()`` and what to
write with ``data_to_send()``.  It never touches a socket, never reads a clock
and never calls user code, so every rule below is testable with byte strings.

Rules that shape this module (checklist §3):

* Establishment (SU-1..SU-13).  A server's first frame must be SETUP (a
  RESUME is routed to the session it names before any Connection sees it, so
  one reaching here is declined with REJECTED_RESUME, RE-5); the
  driver answers :class:`SetupReceived` with :meth:`accept_setup` or
  :meth:`reject_setup` before feeding more frames.  A client may send requests
  straight after SETUP (SU-8) and takes the SETUP as accepted at the first
  frame that proves it (SU-10); stream-0 setup errors are ignored afterwards
  (SU-12).
* Stream ids (ID-1..ID-5): ours are odd (client) or even (server), wrap after
  2^31-1 and skip ids still live.  A request on a live id, frames for unknown
  ids, and requests with the wrong parity are dropped (ID-5, D-10; answering
  the last with an ERROR could hit one of our own streams with that id).
* Credit (RN-1..RN-7): we never send a PAYLOAD[N] without credit (the caller
  gets :class:`LocalProtocolError`), and a peer that sends more than we granted
  has its stream ended (CANCEL when we requested it, ERROR[INVALID] when we
  serve it) instead of making us buffer beyond our grant.
* Leases (SU-9, LE-1..LE-6), when a SETUP with L turned them on: each request
  of ours spends one unit of the peer's last LEASE (the caller passes ``now``
  so its TTL can be judged) or raises :class:`MissingLeaseError` unsent; each
  request of the peer's spends one unit of ours or is answered ERROR[REJECTED].
  Only the four request types count (D-18), once per message (FR-7).
* Faults: a frame-level fault the codec reports is answered with the ERROR it
  names, on stream 0 (and the connection closes) or on the stream; ignorable
  ones are dropped (FL-2, IG-1, IG-2, MP-3).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import Enum
from typing import Any, Final

from ..errors import ErrorCode, FaultLevel, FrameError, LocalProtocolError, MissingLeaseError
from ..frames import (
    CancelFrame,
    ErrorFrame,
    ExtFrame,
    Frame,
    KeepaliveFrame,
    LeaseFrame,
    MetadataPushFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    ResumeFrame,
    ResumeOkFrame,
    SetupFrame,
    decode_frame,
    encode_frame,
)
from ..frames.codec import encode_message, encode_request_n, split_metadata
from ..frames.types import (
    FLAG_COMPLETE,
    FLAG_FOLLOWS,
    FLAG_METADATA,
    FLAG_NEXT,
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_STREAM_ID,
    MAX_U31,
    REQUEST_TYPES,
    FrameType,
)
from .config import ConnectionConfig
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
from .fragmentation import MessageFrame, Reassembly, encoded_size, fragment
from .lease import LeaseStatus, LeaseTracker
from .streams import UNBOUNDED, Stream, add_credit

_SETUP_ERROR_CODES = frozenset(
    {
        ErrorCode.INVALID_SETUP,
        ErrorCode.UNSUPPORTED_SETUP,
        ErrorCode.REJECTED_SETUP,
        ErrorCode.REJECTED_RESUME,
    }
)
_REQUEST_FRAMES = (RequestResponseFrame, RequestFnfFrame, RequestStreamFrame, RequestChannelFrame)
_CREDITED_REQUEST_FRAMES = (RequestStreamFrame, RequestChannelFrame)
_NEXT_COMPLETE: Final = FLAG_NEXT | FLAG_COMPLETE
# Plain ints: comparing and hashing an IntEnum member costs several times more, per frame.
_PAYLOAD: Final = int(FrameType.PAYLOAD)
_REQUEST_N: Final = int(FrameType.REQUEST_N)
_REQUEST_RESPONSE: Final = int(FrameType.REQUEST_RESPONSE)
_REQUEST_FNF: Final = int(FrameType.REQUEST_FNF)
_REQUEST_STREAM: Final = int(FrameType.REQUEST_STREAM)
_REQUEST_CHANNEL: Final = int(FrameType.REQUEST_CHANNEL)
_HEADER_ONLY_MESSAGES: Final = frozenset({_PAYLOAD, _REQUEST_RESPONSE, _REQUEST_FNF})
_CREDIT_CARRIERS: Final = frozenset({_REQUEST_N, _REQUEST_STREAM, _REQUEST_CHANNEL})
_HEADER: Final = struct.Struct(">IH")
#: The type-and-flags word of a PAYLOAD with N, and with N and C.
_NEXT_WORD: Final = (_PAYLOAD << 10) | FLAG_NEXT
_NEXT_COMPLETE_WORD: Final = (_PAYLOAD << 10) | _NEXT_COMPLETE
_HEADER_U32: Final = struct.Struct(">IHI")
_METADATA_LENGTH: Final = 3


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"


class ConnectionState(Enum):
    AWAITING_SETUP = "awaiting_setup"
    """Server: nothing received yet."""
    SETUP_PENDING = "setup_pending"
    """Server: SETUP received, the driver has not accepted or rejected it yet."""
    ESTABLISHED = "established"
    CLOSING = "closing"
    """CONNECTION_CLOSE sent or received: open streams finish, no new ones start."""
    CLOSED = "closed"


class Connection:
    """One RSocket connection, client or server side, both requester and responder."""

    def __init__(self, role: Role, config: ConnectionConfig | None = None) -> None:
        self.role = role
        self.config = config if config is not None else ConnectionConfig()
        self.state = ConnectionState.ESTABLISHED if role is Role.CLIENT else ConnectionState.AWAITING_SETUP
        self.setup: SetupFrame | None = None
        self._streams: dict[int, Stream] = {}
        self._next_stream_id = 1 if role is Role.CLIENT else 2
        self._events: list[Event] = []
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._fragment_size = self.config.fragment_size or MAX_FRAME_SIZE
        # Client: the server has shown it accepted our SETUP (SU-10).
        self._setup_confirmed = role is Role.SERVER
        self._keepalive_interval = self.config.keepalive_interval
        self._max_lifetime = self.config.max_lifetime
        self._last_received = 0.0
        self._next_keepalive: float | None = None
        self._started = False
        self._closing_locally = False
        # Both None unless leasing is on: a client asking for it in its SETUP has it from the
        # start, a server from accept_setup (SU-9).  Resumption must start both afresh (LE-7).
        self.requester_lease: LeaseTracker | None = None
        """The lease the peer granted us; it bounds our requests (LE-4)."""
        self.responder_lease: LeaseTracker | None = None
        """The lease we granted the peer; it bounds the requests we serve (LE-5)."""
        if role is Role.CLIENT and self.config.lease:
            self._enable_leasing()

    # ------------------------------------------------------------------ outputs

    def events(self) -> list[Event]:
        """Every event since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[bytes]:
        """Every frame to write since the last call, in order, without length prefixes."""
        out, self._out = self._out, []
        self._out_bytes = 0
        return out

    @property
    def bytes_to_send(self) -> int:
        """Size of what :meth:`data_to_send` would return now."""
        return self._out_bytes

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` next has work to do, or None."""
        if self.state is ConnectionState.CLOSED or not self._started:
            return None
        deadline = self._last_received + self._max_lifetime
        if self._next_keepalive is not None and self._next_keepalive < deadline:
            return self._next_keepalive
        return deadline

    @property
    def is_closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    def stream(self, stream_id: int) -> Stream | None:
        return self._streams.get(stream_id)

    # ------------------------------------------------------------------ establishment

    def start(self, now: float) -> None:
        """Begin: a client sends SETUP (SU-1); a server starts its liveness clock."""
        if self._started:
            raise LocalProtocolError("connection already started")
        self._started = True
        self._last_received = now
        if self.role is Role.CLIENT:
            config = self.config
            self._emit(
                SetupFrame(
                    config.keepalive_interval_ms,
                    config.max_lifetime_ms,
                    config.metadata_mime,
                    config.data_mime,
                    config.setup_data,
                    config.setup_metadata,
                    resume_token=config.resume_token,
                    lease=config.lease,
                )
            )
            self._next_keepalive = now + self._keepalive_interval

    def accept_setup(self) -> None:
        """Server: take the SETUP that :class:`SetupReceived` reported."""
        if self.state is not ConnectionState.SETUP_PENDING or self.setup is None:
            raise LocalProtocolError("no SETUP is waiting for a decision")
        self.state = ConnectionState.ESTABLISHED
        self._keepalive_interval = self.setup.keepalive_interval / 1000
        self._max_lifetime = self.setup.max_lifetime / 1000
        if self.setup.lease:
            # Only a SETUP with L turns leasing on: a client that never asked for it would not
            # know to wait for our LEASE, and rejecting its requests would break it (SU-9).
            self._enable_leasing()

    def _enable_leasing(self) -> None:
        self.requester_lease = LeaseTracker()
        self.responder_lease = LeaseTracker()

    @property
    def leasing(self) -> bool:
        """Whether leasing is on for this connection (SETUP with L, SU-9)."""
        return self.requester_lease is not None

    def reject_setup(self, error_code: ErrorCode, message: str) -> None:
        """Server: refuse the SETUP with a setup error code and close (SU-7)."""
        if self.state is not ConnectionState.SETUP_PENDING:
            raise LocalProtocolError("no SETUP is waiting for a decision")
        if error_code not in _SETUP_ERROR_CODES - {ErrorCode.REJECTED_RESUME}:
            raise LocalProtocolError(f"{error_code!r} is not a SETUP rejection code (SU-7)")
        self._fail_connection(error_code, message)

    # ------------------------------------------------------------------ requester API

    def _check_can_request(self) -> None:
        if not self._started:
            raise LocalProtocolError("start() the connection first: SETUP goes before any request (SU-1)")
        if self.state is ConnectionState.CLOSING:
            raise LocalProtocolError("the connection is closing; no new requests (CONNECTION_CLOSE)")
        if self.state is not ConnectionState.ESTABLISHED:
            raise LocalProtocolError(f"cannot send a request while {self.state.value} (SU-11)")

    def _allocate_stream_id(self, now: float | None) -> int:
        """The id for a new request, which also spends one unit of the peer's lease (LE-4)."""
        lease = self.requester_lease
        if lease is not None:
            if now is None:
                raise LocalProtocolError(
                    "leasing is on: pass now= with every request so the lease's TTL can be checked (LE-2)"
                )
            status = lease.status(now)
            if status is not LeaseStatus.VALID:
                rule = "SU-9" if status is LeaseStatus.MISSING else "LE-4"
                raise MissingLeaseError(f"{lease.describe(status, now, granted_by_peer=True)} ({rule})")
        if len(self._streams) >= self.config.max_streams:
            raise LocalProtocolError(
                f"{len(self._streams)} streams are open, the configured max_streams; "
                "wait for some to finish or raise the limit"
            )
        candidate = self._next_stream_id
        for _ in range(len(self._streams) + 1):
            following = candidate + 2
            if following > MAX_STREAM_ID:
                following = 1 if self.role is Role.CLIENT else 2
            if candidate not in self._streams:
                self._next_stream_id = following
                if lease is not None:
                    lease.use()
                return candidate
            candidate = following
        raise LocalProtocolError("every stream id is in use; open a new connection (ID-3)")

    def request_response(
        self, data: bytes, metadata: bytes | None = None, *, now: float | None = None
    ) -> int:
        """Send REQUEST_RESPONSE.  Every request method needs ``now`` when leasing is on (LE-2)."""
        self._check_can_request()
        stream_id = self._allocate_stream_id(now)
        self._streams[stream_id] = Stream(
            stream_id,
            RequestKind.REQUEST_RESPONSE,
            is_requester=True,
            send_credit=0,
            receive_credit=1,
            outbound_open=False,
        )
        if not self._queue_message(_REQUEST_RESPONSE, stream_id, data, metadata, 0):
            self._send_message(RequestResponseFrame(stream_id, data, metadata))
        return stream_id

    def request_fire_and_forget(
        self, data: bytes, metadata: bytes | None = None, *, now: float | None = None
    ) -> int:
        self._check_can_request()
        # FF-1: the requester's stream ends on send, so the id is never live.
        stream_id = self._allocate_stream_id(now)
        if not self._queue_message(_REQUEST_FNF, stream_id, data, metadata, 0):
            self._send_message(RequestFnfFrame(stream_id, data, metadata))
        return stream_id

    def request_stream(
        self, data: bytes, metadata: bytes | None = None, *, initial_n: int, now: float | None = None
    ) -> int:
        self._check_can_request()
        initial_n = _request_n_value(initial_n)
        stream_id = self._allocate_stream_id(now)
        self._streams[stream_id] = Stream(
            stream_id,
            RequestKind.REQUEST_STREAM,
            is_requester=True,
            send_credit=0,
            receive_credit=add_credit(0, initial_n),
            outbound_open=False,
        )
        self._send_message(RequestStreamFrame(stream_id, initial_n, data, metadata))
        return stream_id

    def request_channel(
        self,
        data: bytes,
        metadata: bytes | None = None,
        *,
        initial_n: int,
        complete: bool = False,
        now: float | None = None,
    ) -> int:
        self._check_can_request()
        initial_n = _request_n_value(initial_n)
        stream_id = self._allocate_stream_id(now)
        self._streams[stream_id] = Stream(
            stream_id,
            RequestKind.REQUEST_CHANNEL,
            is_requester=True,
            send_credit=0,  # RC-2: later payloads wait for the responder's REQUEST_N
            receive_credit=add_credit(0, initial_n),
            outbound_open=not complete,
        )
        self._send_message(RequestChannelFrame(stream_id, initial_n, data, metadata, False, complete))
        return stream_id

    def metadata_push(self, metadata: bytes) -> None:
        """Never leased: only the four request types are (D-18)."""
        self._check_can_request()
        self._emit(MetadataPushFrame(metadata))

    # ------------------------------------------------------------------ lease API

    def send_lease(
        self, ttl: float, number_of_requests: int, metadata: bytes | None = None, *, now: float
    ) -> bool:
        """Grant the peer ``number_of_requests`` requests for ``ttl`` seconds, replacing any
        earlier grant (LE-1, LE-3).  A zero in either stops its requests.  False once closed.

        The TTL runs from ``now`` here, but only from arrival at the peer (LE-2): a request
        that races the expiry is refused with REJECTED, which promises it was never processed.
        """
        lease = self.responder_lease
        if lease is None:
            raise LocalProtocolError("leasing is off on this connection: it needs a SETUP with L (SU-9)")
        if not self._started:
            raise LocalProtocolError("start() the connection first: SETUP goes before any LEASE (SU-1)")
        ttl_ms = round(ttl * 1000)
        if not 0 <= ttl_ms <= MAX_U31:
            raise LocalProtocolError(f"a lease TTL must be 0..{MAX_U31 / 1000:.0f} seconds, not {ttl!r}")
        if not 0 <= number_of_requests <= MAX_U31:
            raise LocalProtocolError(
                f"a lease's number of requests must be 0..2^31-1, not {number_of_requests} (LE-1)"
            )
        if self.state is ConnectionState.CLOSED:
            return False
        lease.replace(ttl_ms, number_of_requests, metadata, now)
        self._emit(LeaseFrame(ttl_ms, number_of_requests, metadata))
        return True

    # ------------------------------------------------------------------ stream API

    def send_payload(
        self,
        stream_id: int,
        data: bytes,
        metadata: bytes | None = None,
        *,
        complete: bool = False,
    ) -> bool:
        """Send one value (N, plus C when ``complete``).  False if the stream is gone.

        Raises :class:`LocalProtocolError` without credit (RN-3).
        """
        stream = self._streams.get(stream_id)
        if stream is None or not stream.outbound_open:
            return False
        credit = stream.send_credit
        if credit != UNBOUNDED:
            if credit <= 0:
                raise LocalProtocolError(f"no credit to send on stream {stream_id} (RN-3)")
            stream.send_credit = credit - 1
        if stream.kind is RequestKind.REQUEST_RESPONSE:
            complete = True  # RR-1: the one response always completes
        if metadata is None and HEADER_SIZE + len(data) <= self._fragment_size:
            # _queue_message's common case, inlined: this runs for every item sent.
            self._out.append(_HEADER.pack(stream_id, _NEXT_COMPLETE_WORD if complete else _NEXT_WORD) + data)
            self._out_bytes += HEADER_SIZE + len(data)
        elif not self._queue_message(
            _PAYLOAD, stream_id, data, metadata, _NEXT_COMPLETE if complete else FLAG_NEXT
        ):
            self._send_message(PayloadFrame(stream_id, data, metadata, False, complete, True))
        if complete:
            self._close_outbound(stream)
        return True

    def send_complete(self, stream_id: int) -> bool:
        """Complete our half without a value (PAYLOAD with C only; needs no credit)."""
        stream = self._streams.get(stream_id)
        if stream is None or not stream.outbound_open:
            return False
        self._queue(encode_message(_PAYLOAD, stream_id, b"", None, FLAG_COMPLETE))
        self._close_outbound(stream)
        return True

    def send_error(self, stream_id: int, error_code: int, message: str) -> bool:
        """End the stream with an ERROR: both halves, at once (RC-6)."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return False
        if stream.is_requester and stream.kind is not RequestKind.REQUEST_CHANNEL:
            raise LocalProtocolError(
                "a requester ends a request/response or stream with CANCEL, not ERROR (RC-6)"
            )
        del self._streams[stream_id]
        self._emit(ErrorFrame(stream_id, error_code, message.encode("utf-8")))
        self._maybe_finish_closing()
        return True

    def send_request_n(self, stream_id: int, n: int) -> bool:
        """Grant the peer ``n`` more payloads on ``stream_id`` (RN-2, RN-6)."""
        n = _request_n_value(n)
        stream = self._streams.get(stream_id)
        if stream is None or not stream.inbound_open or stream.kind is RequestKind.REQUEST_RESPONSE:
            return False
        if stream.receive_credit == UNBOUNDED:
            return True
        stream.receive_credit = add_credit(stream.receive_credit, n)
        self._queue(encode_request_n(stream_id, n))
        return True

    def send_cancel(self, stream_id: int) -> bool:
        """Stop the stream.  As requester this ends both halves (RC-7); as a channel
        responder it stops only the requester's half, as rsocket-java does (D-12)."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return False
        if stream.is_requester:
            del self._streams[stream_id]
        else:
            if not stream.inbound_open:
                return False
            stream.inbound_open = False
            stream.reassembly = None
            if stream.finished:
                del self._streams[stream_id]
        self._emit(CancelFrame(stream_id))
        self._maybe_finish_closing()
        return True

    # ------------------------------------------------------------------ closing

    def close_gracefully(self, message: str = "") -> None:
        """Send ERROR[CONNECTION_CLOSE]: open streams finish, new requests are REJECTED."""
        if self.state not in (ConnectionState.ESTABLISHED, ConnectionState.CLOSING):
            self.close()
            return
        if not self._closing_locally:
            self._closing_locally = True
            self._emit(ErrorFrame(0, ErrorCode.CONNECTION_CLOSE, message.encode("utf-8")))
        self.state = ConnectionState.CLOSING
        self._maybe_finish_closing()

    def close(self, error_code: ErrorCode | None = None, message: str = "") -> None:
        """Close now; with ``error_code``, tell the peer why on stream 0 first."""
        if self.state is ConnectionState.CLOSED:
            return
        if error_code is None and self.config.resumable:
            # Without a word, the peer would take the lost link for an outage and keep the
            # session for a resume that never comes (RE-8 allows ending it this way).
            error_code, message = ErrorCode.CONNECTION_ERROR, message or "session closed"
        if error_code is not None:
            self._emit(ErrorFrame(0, error_code, message.encode("utf-8")))
        self._closed(error_code, message, by_peer=False)

    def connection_lost(self, message: str = "connection lost", error_code: int | None = None) -> None:
        """The transport is gone (EOF, reset, ...), or the session layer gave up on it
        (a resume refused with ``error_code``, or never achieved)."""
        if self.state is not ConnectionState.CLOSED:
            self._closed(error_code, message, by_peer=True)

    def _closed(self, error_code: int | None, message: str, *, by_peer: bool) -> None:
        self.state = ConnectionState.CLOSED
        self._streams.clear()
        self._next_keepalive = None
        self._events.append(ConnectionClosed(error_code, message, by_peer))

    def _fail_connection(self, error_code: ErrorCode, message: str) -> None:
        self.close(error_code, message)

    def _maybe_finish_closing(self) -> None:
        if self.state is ConnectionState.CLOSING and not self._streams:
            self._closed(ErrorCode.CONNECTION_CLOSE, "closed gracefully", by_peer=not self._closing_locally)

    # ------------------------------------------------------------------ timers

    def handle_timer(self, now: float) -> None:
        """Send a due KEEPALIVE, or end a connection whose peer went silent (KA-2, KA-4)."""
        if self.state is ConnectionState.CLOSED or not self._started:
            return
        silent = now - self._last_received
        if silent >= self._max_lifetime and self.config.resumable:
            # The transport is presumed dead, not the session: the driver resumes on a new one.
            self._last_received = now
            self._events.append(PeerSilent(round(silent * 1000)))
        elif silent >= self._max_lifetime:
            self._fail_connection(
                ErrorCode.CONNECTION_ERROR,
                f"no keepalive from the peer for {round(silent * 1000)} ms "
                f"(max lifetime {round(self._max_lifetime * 1000)} ms)",
            )
            return
        if self._next_keepalive is not None and now >= self._next_keepalive:
            self._emit(KeepaliveFrame(0, b"", True))
            self._next_keepalive = now + self._keepalive_interval

    def link_resumed(self, now: float) -> None:
        """The session layer resumed this connection on a new transport (§3.14).

        The liveness clock starts over: the silence being timed was the old link's (KA-4).
        The peer's lease is void (LE-7): our requests wait for the fresh one it must send.
        Ours stays until the fresh LEASE we send replaces it (LE-3), so requests the peer
        made under it and sends again now are still honoured.
        """
        self._last_received = now
        if self.requester_lease is not None:
            self.requester_lease = LeaseTracker()

    # ------------------------------------------------------------------ inbound

    def receive_frame(self, buf: bytes | bytearray | memoryview, now: float) -> None:
        """Process one whole frame (no length prefix) that arrived at ``now``.

        The frames every message carries (PAYLOAD, REQUEST_N, whole requests) take a fast
        path, decoded field by field with no frame object.  Anything else, and whatever the
        fast path leaves alone (fragments, stream 0, a zero request-n), goes through
        decode_frame, which also names every fault.
        """
        state = self.state
        if state is not ConnectionState.ESTABLISHED:
            self._receive_decoded(buf, now, state)
            return
        self._last_received = now
        size = len(buf)
        if size < HEADER_SIZE:
            self._receive_decoded(buf, now, state)
            return
        stream_id, word = _HEADER.unpack_from(buf, 0)
        stream_id &= MAX_U31
        frame_type = word >> 10
        if not stream_id or word & FLAG_FOLLOWS:
            self._receive_decoded(buf, now, state)
            return
        if frame_type in _CREDIT_CARRIERS:
            n = _HEADER_U32.unpack_from(buf, 0)[2] & MAX_U31 if size >= _HEADER_U32.size else 0
            if not n:
                self._receive_decoded(buf, now, state)
                return
            if frame_type == _REQUEST_N:
                self._request_n(stream_id, n)
                return
            offset = _HEADER_U32.size
        elif frame_type in _HEADER_ONLY_MESSAGES:
            n = 0
            offset = HEADER_SIZE
        else:
            self._receive_decoded(buf, now, state)
            return
        flags = word & 0x3FF
        if flags & FLAG_METADATA:
            try:
                metadata, data = split_metadata(buf, offset, size, frame_type, stream_id, flags)
            except FrameError as exc:
                self._on_frame_error(exc)
                return
        else:
            metadata, data = None, bytes(buf[offset:])
        if frame_type == _PAYLOAD:
            self._payload(
                stream_id, data, metadata, False, bool(flags & FLAG_COMPLETE), bool(flags & FLAG_NEXT)
            )
        else:
            self._request(frame_type, stream_id, data, metadata, n, bool(flags & FLAG_COMPLETE))

    def _receive_decoded(
        self, buf: bytes | bytearray | memoryview, now: float, state: ConnectionState
    ) -> None:
        """The general path: decode_frame, then the handler for the frame's type."""
        if state is ConnectionState.CLOSED:
            return  # §4: after close, anything still arriving is ignored
        if state is ConnectionState.SETUP_PENDING:
            raise LocalProtocolError("accept or reject the pending SETUP before feeding more frames")
        self._last_received = now
        try:
            frame = decode_frame(buf)
        except FrameError as exc:
            self._on_frame_error(exc)
            return
        if state is ConnectionState.AWAITING_SETUP:
            self._on_first_frame(frame)
            return
        _HANDLERS[frame.frame_type](self, frame)

    def _on_frame_error(self, exc: FrameError) -> None:
        if self.state is ConnectionState.AWAITING_SETUP:
            # SU-2: whatever was wrong with the first frame, even one that would otherwise be
            # dropped, it was not a valid SETUP.
            self._fail_connection(ErrorCode.INVALID_SETUP, exc.message)
            return
        if exc.ignorable:
            return
        if exc.level is FaultLevel.CONNECTION:
            self._fail_connection(ErrorCode(exc.error_code), exc.message)
            return
        self._stream_fault(exc.stream_id, exc.message, new_request=exc.frame_type in REQUEST_TYPES)

    def _stream_fault(self, stream_id: int, message: str, *, new_request: bool = False) -> None:
        """End one stream because of the peer's fault, telling both sides (D-17)."""
        if new_request:
            if stream_id not in self._streams and self._is_peer_stream_id(stream_id):
                self._emit(ErrorFrame(stream_id, ErrorCode.INVALID, message.encode("utf-8")))
            return
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        if stream.is_requester:
            self._emit(CancelFrame(stream_id))
        else:
            self._emit(ErrorFrame(stream_id, ErrorCode.INVALID, message.encode("utf-8")))
        if not _awaiting_request_fragments(stream):
            self._events.append(ErrorReceived(stream_id, ErrorCode.INVALID, message))
        self._maybe_finish_closing()

    def _on_first_frame(self, frame: Frame) -> None:
        if isinstance(frame, SetupFrame):
            if frame.major != 1:
                self._fail_connection(
                    ErrorCode.INVALID_SETUP,
                    f"unsupported protocol version {frame.major}.{frame.minor}; "
                    "this server speaks 1.0 (SU-4)",
                )
                return
            if frame.resume_token is not None and not self.config.resumable:
                self._fail_connection(ErrorCode.REJECTED_SETUP, "resumption is not supported (SU-6)")
                return
            if frame.lease and not self.config.lease:
                self._fail_connection(ErrorCode.UNSUPPORTED_SETUP, "leasing is not supported (SU-9)")
                return
            self.setup = frame
            self.state = ConnectionState.SETUP_PENDING
            self._events.append(SetupReceived(frame))
            return
        if isinstance(frame, ResumeFrame):
            self._fail_connection(ErrorCode.REJECTED_RESUME, "resumption is not supported (RE-5)")
            return
        self._fail_connection(
            ErrorCode.INVALID_SETUP,
            f"the first frame must be SETUP or RESUME, not {frame.frame_type.name} (SU-2)",
        )

    def _is_peer_stream_id(self, stream_id: int) -> bool:
        # Client-initiated ids are odd (ID-2).
        return (stream_id & 1 == 1) is (self.role is Role.SERVER)

    # Handlers by frame type ---------------------------------------------------

    def _on_setup(self, frame: SetupFrame) -> None:
        """SU-12: a second SETUP (server) or any SETUP (client) is ignored."""

    def _on_lease(self, frame: LeaseFrame) -> None:
        # Even a LEASE we did not ask for shows the server accepted our SETUP (SU-10).
        self._setup_confirmed = True
        lease = self.requester_lease
        if lease is None:
            return  # leasing is off: the LEASE grants nothing (U-1)
        # receive_frame stamped the arrival time, where the TTL starts (LE-2).
        lease.replace(frame.ttl, frame.number_of_requests, frame.metadata, self._last_received)
        self._events.append(LeaseReceived(frame.ttl, frame.number_of_requests, frame.metadata))

    def _on_keepalive(self, frame: KeepaliveFrame) -> None:
        if frame.respond:
            # KA-3: answer with R=0 and the same data; position 0 without resumption (D-6).
            self._emit(KeepaliveFrame(0, frame.data, False))

    def _on_request(self, frame: Frame) -> None:
        assert isinstance(frame, _REQUEST_FRAMES)
        initial_n = frame.initial_request_n if isinstance(frame, _CREDITED_REQUEST_FRAMES) else 0
        complete = isinstance(frame, RequestChannelFrame) and frame.complete
        # FR-5: F together with C (only REQUEST_CHANNEL has C) ends the message at once.
        first_fragment = frame if frame.follows and not complete else None
        self._request(
            frame.frame_type, frame.stream_id, frame.data, frame.metadata, initial_n, complete, first_fragment
        )

    def _request(
        self,
        frame_type: int,
        stream_id: int,
        data: bytes,
        metadata: bytes | None,
        initial_n: int,
        complete: bool,
        first_fragment: MessageFrame | None = None,
    ) -> None:
        """A request frame, whole or (``first_fragment``) the first of its fragments."""
        streams = self._streams
        if not self._is_peer_stream_id(stream_id) or stream_id in streams:
            return  # ID-5 / D-10
        self._setup_confirmed = True
        is_fnf = frame_type == _REQUEST_FNF
        if self.state is ConnectionState.CLOSING:
            if not is_fnf:
                self._emit(ErrorFrame(stream_id, ErrorCode.REJECTED, b"connection is closing"))
            return
        whole_fnf = is_fnf and first_fragment is None
        if len(streams) >= self.config.max_streams and not whole_fnf:
            if not is_fnf:
                message = f"too many open streams (limit {self.config.max_streams})"
                self._emit(ErrorFrame(stream_id, ErrorCode.REJECTED, message.encode()))
            return
        lease = self.responder_lease
        if lease is not None:
            # receive_frame stamped the frame's arrival time before any handler ran.
            now = self._last_received
            status = lease.status(now)
            if status is not LeaseStatus.VALID:
                # LE-5, even for a fire-and-forget, whose requester ignores it (ID-5).  The later
                # fragments of a refused request find no stream and are dropped, so a message
                # costs one lease unit however many fragments it has (FR-7).
                message = f"{lease.describe(status, now, granted_by_peer=False)} (LE-5)"
                self._emit(ErrorFrame(stream_id, ErrorCode.REJECTED, message.encode()))
                return
            lease.use()
        if whole_fnf:
            # FF-1: a whole fire-and-forget ends as it arrives; there is no stream to keep.
            self._events.append(
                RequestReceived(stream_id, RequestKind.FIRE_AND_FORGET, data, metadata, 0, False)
            )
            return
        stream = self._open_responder_stream(frame_type, stream_id, initial_n)
        if first_fragment is not None:
            stream.reassembly = Reassembly(first_fragment)
            self._check_reassembly_size(stream)
            return
        self._deliver_request(stream, data, metadata, initial_n, complete)

    def _open_responder_stream(self, frame_type: int, stream_id: int, initial_n: int) -> Stream:
        if frame_type == _REQUEST_RESPONSE:
            stream = Stream(
                stream_id,
                RequestKind.REQUEST_RESPONSE,
                is_requester=False,
                send_credit=1,
                receive_credit=0,
                inbound_open=False,
            )
        elif frame_type == _REQUEST_STREAM:
            stream = Stream(
                stream_id,
                RequestKind.REQUEST_STREAM,
                is_requester=False,
                send_credit=add_credit(0, initial_n),
                receive_credit=0,
                inbound_open=False,
            )
        elif frame_type == _REQUEST_CHANNEL:
            stream = Stream(
                stream_id,
                RequestKind.REQUEST_CHANNEL,
                is_requester=False,
                send_credit=add_credit(0, initial_n),
                receive_credit=0,
                inbound_open=True,
            )
        else:
            # Fire-and-forget keeps a record only while its fragments arrive.
            stream = Stream(
                stream_id,
                RequestKind.FIRE_AND_FORGET,
                is_requester=False,
                send_credit=0,
                receive_credit=0,
                inbound_open=True,
                outbound_open=False,
            )
        self._streams[stream_id] = stream
        return stream

    def _deliver_request(
        self, stream: Stream, data: bytes, metadata: bytes | None, initial_n: int, complete: bool
    ) -> None:
        """Hand the driver a request; ``complete`` (the requester's half is done) counts for channels only."""
        kind = stream.kind
        if kind is RequestKind.REQUEST_CHANNEL:
            if complete:
                stream.inbound_open = False
        else:
            complete = False
            if kind is RequestKind.FIRE_AND_FORGET:
                del self._streams[stream.stream_id]
                self._maybe_finish_closing()
        self._events.append(RequestReceived(stream.stream_id, kind, data, metadata, initial_n, complete))

    def _check_reassembly_size(self, stream: Stream) -> bool:
        reassembly = stream.reassembly
        assert reassembly is not None
        limit = self.config.max_inbound_payload_size
        if reassembly.size <= limit:
            return True
        self._stream_fault(
            stream.stream_id,
            f"fragmented message of more than {limit} bytes exceeds the maximum inbound payload size (FR-9)",
        )
        return False

    def _on_request_n(self, frame: RequestNFrame) -> None:
        self._request_n(frame.stream_id, frame.request_n)

    def _request_n(self, stream_id: int, n: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or not stream.outbound_open:
            return
        if stream.kind is RequestKind.REQUEST_RESPONSE:
            return  # U-1: meaningless for request/response
        stream.send_credit = add_credit(stream.send_credit, n)
        self._setup_confirmed = True
        if not _awaiting_request_fragments(stream):
            # While the request is still arriving the credit is only banked: the driver
            # reads it from the stream once it has the request.
            self._events.append(RequestNReceived(stream_id, n))

    def _on_cancel(self, frame: CancelFrame) -> None:
        stream = self._streams.get(frame.stream_id)
        if stream is None:
            return  # ID-5
        if stream.is_requester:
            if stream.kind is RequestKind.REQUEST_CHANNEL and stream.outbound_open:
                # D-12: a rsocket-java responder cancels only our outbound half; D-13: any
                # fragmented payload it was sending us is abandoned with it.
                stream.outbound_open = False
                stream.reassembly = None
                if stream.finished:
                    del self._streams[frame.stream_id]
                self._events.append(CancelReceived(frame.stream_id))
                self._maybe_finish_closing()
            elif stream.reassembly is not None:
                # D-13: the responder abandoned a fragmented payload.
                del self._streams[frame.stream_id]
                self._events.append(
                    ErrorReceived(
                        frame.stream_id, ErrorCode.CANCELED, "responder abandoned a fragmented payload"
                    )
                )
                self._maybe_finish_closing()
            return
        del self._streams[frame.stream_id]
        if not _awaiting_request_fragments(stream):
            self._events.append(CancelReceived(frame.stream_id))
        self._maybe_finish_closing()

    def _on_payload(self, frame: PayloadFrame) -> None:
        self._payload(frame.stream_id, frame.data, frame.metadata, frame.follows, frame.complete, frame.next)

    def _payload(
        self,
        stream_id: int,
        data: bytes,
        metadata: bytes | None,
        follows: bool,
        complete: bool,
        is_next: bool,
    ) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # ID-5
        reassembly = stream.reassembly
        if reassembly is not None:
            reassembly.add(data, metadata)
            if not self._check_reassembly_size(stream):
                return
            if follows and not complete:
                return
            stream.reassembly = None
            first = reassembly.first
            if not isinstance(first, PayloadFrame):
                initial_n = first.initial_request_n if isinstance(first, _CREDITED_REQUEST_FRAMES) else 0
                self._deliver_request(stream, reassembly.data(), reassembly.metadata(), initial_n, complete)
                return
            data, metadata, is_next = reassembly.data(), reassembly.metadata(), True
        elif not stream.inbound_open:
            return  # U-1: that half is already complete
        elif follows and not complete:
            stream.reassembly = Reassembly(PayloadFrame(stream_id, data, metadata, True, False, is_next))
            self._check_reassembly_size(stream)
            return
        self._setup_confirmed = True
        if stream.kind is RequestKind.REQUEST_RESPONSE:
            complete = True  # RR-3
        elif not (is_next or complete):
            return  # U-3: neither N nor C carries nothing; drop it (U-1)
        if is_next:
            credit = stream.receive_credit
            if credit != UNBOUNDED:
                if credit <= 0:
                    self._stream_fault(
                        stream_id, f"peer sent more payloads than requested on stream {stream_id} (RN-3)"
                    )
                    return
                stream.receive_credit = credit - 1
        if complete:
            stream.inbound_open = False
            if not stream.outbound_open:
                del self._streams[stream_id]
        self._events.append(PayloadReceived(stream_id, data, metadata, is_next, complete))
        if complete:
            self._maybe_finish_closing()

    def _on_error(self, frame: ErrorFrame) -> None:
        if frame.stream_id == 0:
            self._on_connection_error(frame)
            return
        stream = self._streams.pop(frame.stream_id, None)
        if stream is None:
            return  # ID-5
        self._setup_confirmed = True
        if not _awaiting_request_fragments(stream):
            self._events.append(ErrorReceived(frame.stream_id, frame.error_code, frame.message))
        self._maybe_finish_closing()

    def _on_connection_error(self, frame: ErrorFrame) -> None:
        code = frame.error_code
        if code in _SETUP_ERROR_CODES and (self.role is Role.SERVER or self._setup_confirmed):
            return  # SU-12
        if code == ErrorCode.CONNECTION_CLOSE:
            if self.state is ConnectionState.ESTABLISHED:
                self.state = ConnectionState.CLOSING
                self._events.append(GracefulCloseReceived(frame.message))
            self._maybe_finish_closing()
            return
        self._closed(code, frame.message, by_peer=True)

    def _on_metadata_push(self, frame: MetadataPushFrame) -> None:
        self._events.append(MetadataPushReceived(frame.metadata))

    def _on_resume(self, frame: ResumeFrame) -> None:
        self._fail_connection(ErrorCode.CONNECTION_ERROR, "RESUME after the connection was set up (RE-10)")

    def _on_resume_ok(self, frame: ResumeOkFrame) -> None:
        self._fail_connection(ErrorCode.CONNECTION_ERROR, "RESUME_OK without a RESUME (RE-4)")

    def _on_ext(self, frame: ExtFrame) -> None:
        # No extended types are known yet: IG-1 drops ignorable ones, IG-2 ends the rest.
        if not frame.ignore:
            self._fail_connection(
                ErrorCode.CONNECTION_ERROR, f"unsupported extension frame type {frame.extended_type} (IG-2)"
            )

    # ------------------------------------------------------------------ sending helpers

    def _emit(self, frame: Frame) -> None:
        self._queue(encode_frame(frame))

    def _queue(self, encoded: bytes) -> None:
        self._out.append(encoded)
        self._out_bytes += len(encoded)

    def _queue_message(
        self, frame_type: int, stream_id: int, data: bytes, metadata: bytes | None, flags: int
    ) -> bool:
        """Queue a REQUEST_RESPONSE, REQUEST_FNF or PAYLOAD without building a frame object;
        False (nothing queued) when it is too large for one frame and must be fragmented."""
        size = HEADER_SIZE + len(data)
        if metadata is not None:
            size += _METADATA_LENGTH + len(metadata)
        if size > self._fragment_size:
            return False
        self._out.append(encode_message(frame_type, stream_id, data, metadata, flags))
        self._out_bytes += size
        return True

    def _send_message(self, frame: MessageFrame) -> None:
        if encoded_size(frame) <= self._fragment_size:
            self._emit(frame)
            return
        for piece in fragment(frame, self._fragment_size):
            self._emit(piece)

    def _close_outbound(self, stream: Stream) -> None:
        stream.outbound_open = False
        if stream.finished:
            del self._streams[stream.stream_id]
            self._maybe_finish_closing()


def _request_n_value(n: int) -> int:
    """A request-n to send: at least 1 (RN-1); anything from 2^31-1 up means unbounded (D-2)."""
    if n < 1:
        raise LocalProtocolError(f"request-n must be at least 1, not {n} (RN-1)")
    return min(n, MAX_STREAM_ID)


def _awaiting_request_fragments(stream: Stream) -> bool:
    """True while a fragmented request is still arriving: the driver has not seen it yet."""
    return stream.reassembly is not None and not isinstance(stream.reassembly.first, PayloadFrame)


_HANDLERS: dict[int, Callable[[Connection, Any], None]] = {
    FrameType.SETUP: Connection._on_setup,
    FrameType.LEASE: Connection._on_lease,
    FrameType.KEEPALIVE: Connection._on_keepalive,
    FrameType.REQUEST_RESPONSE: Connection._on_request,
    FrameType.REQUEST_FNF: Connection._on_request,
    FrameType.REQUEST_STREAM: Connection._on_request,
    FrameType.REQUEST_CHANNEL: Connection._on_request,
    FrameType.REQUEST_N: Connection._on_request_n,
    FrameType.CANCEL: Connection._on_cancel,
    FrameType.PAYLOAD: Connection._on_payload,
    FrameType.ERROR: Connection._on_error,
    FrameType.METADATA_PUSH: Connection._on_metadata_push,
    FrameType.RESUME: Connection._on_resume,
    FrameType.RESUME_OK: Connection._on_resume_ok,
    FrameType.EXT: Connection._on_ext,
}
