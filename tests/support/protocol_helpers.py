"""Helpers for driving the sans-IO :class:`~aiorsocket.protocol.Connection` in tests.

Everything is bytes in, events and bytes out: frames are fed by dataclass
(through :func:`encode_frame`), and everything the connection wants to write is
decoded back to frame dataclasses, so a test can compare whole lists exactly.

Human-readable error text is not part of the protocol contract, so
:func:`no_text` blanks it out of ERROR frames and events before comparing.

:class:`Pair` wires a client and a server together in memory, like h2's
``test_interacting_stacks``: :meth:`Pair.pump` moves frames both ways until
neither side has anything left to write.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable
from typing import TypeVar

from aiorsocket.errors import FrameError
from aiorsocket.frames import (
    ErrorFrame,
    Frame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    SetupFrame,
    decode_frame,
    encode_frame,
)
from aiorsocket.frames.types import MAX_U31
from aiorsocket.protocol import (
    Connection,
    ConnectionClosed,
    ConnectionConfig,
    ConnectionState,
    ErrorReceived,
    Event,
    GracefulCloseReceived,
    Role,
    SetupReceived,
)
from aiorsocket.protocol.streams import Stream

DEFAULT_SETUP = SetupFrame(20_000, 90_000, "application/octet-stream", "application/octet-stream")

T = TypeVar("T")


# --------------------------------------------------------------------------- frames


def raw_frame(frame_type: int, flags: int, stream_id: int, body: bytes = b"") -> bytes:
    """A frame built by hand from its header fields (for types/flags the codec will not build)."""
    return struct.pack(">IH", stream_id, (frame_type << 10) | flags) + body


def frames_out(conn: Connection) -> list[Frame]:
    """Everything ``conn`` wants to send, decoded back to frame dataclasses."""
    return [decode_frame(buf) for buf in conn.data_to_send()]


def feed(conn: Connection, *frames: Frame | bytes, now: float = 0.0) -> None:
    """Hand frames (dataclasses or raw bytes) to ``conn`` as if they came off the wire."""
    for frame in frames:
        conn.receive_frame(frame if isinstance(frame, bytes) else encode_frame(frame), now)


def _blank(item: T) -> T:
    if isinstance(item, ErrorFrame):
        return dataclasses.replace(item, data=b"")
    if isinstance(item, ConnectionClosed | ErrorReceived | GracefulCloseReceived):
        return dataclasses.replace(item, message="")
    return item


def no_text(items: Iterable[T]) -> list[T]:
    """``items`` with the free-text part of ERROR frames and error events emptied."""
    return [_blank(item) for item in items]


# --------------------------------------------------------------------------- single connections


def make_client(config: ConnectionConfig | None = None, now: float = 0.0) -> Connection:
    """A started client whose SETUP has been taken off the output queue."""
    client = Connection(Role.CLIENT, config)
    client.start(now)
    sent = frames_out(client)
    assert len(sent) == 1
    assert isinstance(sent[0], SetupFrame)
    return client


def confirm_client(client: Connection) -> None:
    """Make the client take its SETUP as accepted (SU-10): the server sends it a request.

    A fire-and-forget (stream 2) leaves no stream behind and asks for no answer.
    """
    feed(client, RequestFnfFrame(2, b"confirm"))
    client.events()
    assert client.data_to_send() == []


def make_server(
    config: ConnectionConfig | None = None,
    setup: SetupFrame = DEFAULT_SETUP,
    now: float = 0.0,
) -> Connection:
    """A started server that has received and accepted ``setup``; queues drained."""
    server = Connection(Role.SERVER, config)
    server.start(now)
    feed(server, setup, now=now)
    assert server.events() == [SetupReceived(setup)]
    server.accept_setup()
    assert server.state is ConnectionState.ESTABLISHED
    assert server.data_to_send() == []
    return server


def open_stream_on_server(server: Connection, request: Frame) -> int:
    """Feed a request frame from the client and drop the resulting RequestReceived event."""
    assert isinstance(request, RequestResponseFrame | RequestStreamFrame | RequestChannelFrame)
    feed(server, request)
    events = server.events()
    assert len(events) == 1, events
    return request.stream_id


# --------------------------------------------------------------------------- two wired connections


class Pair:
    """A client and a server wired together in memory.

    Frames only move when :meth:`pump` (or :meth:`deliver`) is called, so a test
    can act on both sides "at the same time" and then let the frames cross.
    Events accumulate in :attr:`client_events` / :attr:`server_events`; the
    server accepts the SETUP automatically unless ``auto_accept`` is False.
    Every frame that crosses is also kept, decoded, in :attr:`c2s` / :attr:`s2c`.

    With ``transport_closes`` (the default) the pair behaves like a driver that closes the
    transport when its connection closes: once a closed side's last frames have been
    delivered, the other side gets :meth:`Connection.connection_lost` (EOF).
    """

    def __init__(
        self,
        client_config: ConnectionConfig | None = None,
        server_config: ConnectionConfig | None = None,
        *,
        now: float = 0.0,
        auto_accept: bool = True,
        transport_closes: bool = True,
    ) -> None:
        self.now = now
        self.auto_accept = auto_accept
        self.transport_closes = transport_closes
        self.client = Connection(Role.CLIENT, client_config)
        self.server = Connection(Role.SERVER, server_config)
        self.client_events: list[Event] = []
        self.server_events: list[Event] = []
        self.c2s: list[Frame] = []
        self.s2c: list[Frame] = []
        self._c2s_queue: list[bytes] = []
        self._s2c_queue: list[bytes] = []
        self.server.start(now)
        self.client.start(now)

    # Hooks for subclasses that audit the traffic (see the random-sequence tests).

    def on_sent(self, sender: Connection, frame: Frame) -> None:
        """Called for every frame ``sender`` emits, in order, as soon as it is taken off its queue."""

    def on_received(self, receiver: Connection, frame: Frame | None, before: Stream | None) -> None:
        """Called after ``receiver`` processed a frame (None when it did not decode); ``before`` is
        the receiver's stream record for that frame's stream id before it (the same, possibly
        since changed, object; None when there was none)."""

    def collect(self) -> None:
        """Take what both sides queued (frames and events) into the pair's queues and logs."""
        self._collect()

    def _collect(self) -> None:
        for conn, queue in ((self.client, self._c2s_queue), (self.server, self._s2c_queue)):
            for buf in conn.data_to_send():
                self.on_sent(conn, decode_frame(buf))
                queue.append(buf)
        self.client_events.extend(self.client.events())
        self.server_events.extend(self.server.events())

    def receive(self, receiver: Connection, buf: bytes) -> None:
        """Hand ``buf`` to ``receiver`` (from the other side, or injected by a test) and collect."""
        self._collect()
        try:
            frame: Frame | None = decode_frame(buf)
        except FrameError:
            frame = None
        before = receiver.stream(frame.stream_id) if frame is not None and frame.stream_id else None
        receiver.receive_frame(buf, self.now)
        self.on_received(receiver, frame, before)
        self._collect()
        if self.auto_accept and self.server.state is ConnectionState.SETUP_PENDING:
            self.server.accept_setup()

    def deliver(self, to_server: int | None = None, to_client: int | None = None) -> None:
        """Move at most ``to_server`` queued frames client→server and ``to_client`` the other way."""
        self._collect()
        if to_server:
            batch, self._c2s_queue = self._c2s_queue[:to_server], self._c2s_queue[to_server:]
            for buf in batch:
                self.c2s.append(decode_frame(buf))
                self.receive(self.server, buf)
        if to_client:
            batch, self._s2c_queue = self._s2c_queue[:to_client], self._s2c_queue[to_client:]
            for buf in batch:
                self.s2c.append(decode_frame(buf))
                self.receive(self.client, buf)
        self._propagate_close()

    def _propagate_close(self) -> None:
        """Deliver EOF to the side whose peer closed, once the peer's last frames have crossed."""
        if not self.transport_closes:
            return
        self._collect()
        if self.server.is_closed and not self._s2c_queue and not self.client.is_closed:
            self.client.connection_lost()
            self._collect()
        if self.client.is_closed and not self._c2s_queue and not self.server.is_closed:
            self.server.connection_lost()
            self._collect()

    def pump(self, max_rounds: int = 100_000) -> None:
        """Move frames both ways until neither side has anything left to send."""
        for _ in range(max_rounds):
            self._collect()
            self._propagate_close()
            if not self._c2s_queue and not self._s2c_queue:
                return
            self.deliver(to_server=len(self._c2s_queue), to_client=len(self._s2c_queue))
        raise AssertionError("the two connections never went quiet")

    def take_client_events(self) -> list[Event]:
        self._collect()
        events, self.client_events = self.client_events, []
        return events

    def take_server_events(self) -> list[Event]:
        self._collect()
        events, self.server_events = self.server_events, []
        return events

    @property
    def in_flight(self) -> int:
        self._collect()
        return len(self._c2s_queue) + len(self._s2c_queue)


def credit_is_unbounded(total: int) -> bool:
    """rsocket-java's reading (D-2): a total grant at or past 2^31-1 never runs out."""
    return total >= MAX_U31
