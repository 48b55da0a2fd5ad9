"""Randomised tests over two wired connections.

* :func:`test_random_workloads_complete_cleanly` runs well-behaved applications on both sides
  (every interaction model, random sizes, fragmentation, request-n batching, random delivery
  order) and checks every value arrives intact and both stream tables end empty.
* :class:`ChaosMachine` drives both sides with random API calls, random deliveries, random
  peer frames (valid frames and raw junk) and the passing of time, and checks invariants.

Both run over :class:`AuditedPair`, which keeps an independent credit ledger for each sender
and fails the moment a side sends more PAYLOAD[N] messages than its peer granted (RN-3, RN-4,
D-2: a total of 2^31-1 or more is unbounded).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from aiorsocket.errors import ErrorCode, LocalProtocolError
from aiorsocket.frames import (
    Frame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    encode_frame,
)
from aiorsocket.frames.types import MAX_U31
from aiorsocket.protocol import (
    CancelReceived,
    Connection,
    ConnectionClosed,
    ConnectionConfig,
    ConnectionState,
    ErrorReceived,
    Event,
    GracefulCloseReceived,
    PayloadReceived,
    RequestKind,
    RequestNReceived,
    RequestReceived,
)
from aiorsocket.protocol.streams import Stream
from support import frame_strategies as fs
from support.protocol_helpers import Pair, credit_is_unbounded, no_text

REQUEST_TYPES = (RequestResponseFrame, RequestFnfFrame, RequestStreamFrame, RequestChannelFrame)


# =========================================================================== the credit ledger


@dataclass
class Ledger:
    """What one side may send on one stream, counted from the frames that crossed the wire."""

    granted: int | None
    """Total credit received (None: this side may send no PAYLOAD[N] at all)."""
    used: int = 0
    continuing: bool = False
    """The last message this side sent on the stream was a fragment with more to come."""

    @property
    def remaining(self) -> float:
        if self.granted is None:
            return 0
        if credit_is_unbounded(self.granted):
            return float("inf")
        return self.granted - self.used


class AuditedPair(Pair):
    def __init__(self, config: ConnectionConfig | None = None) -> None:
        self.ledgers: dict[tuple[str, int], Ledger] = {}
        super().__init__(config, config)

    def side(self, conn: Connection) -> str:
        return "client" if conn is self.client else "server"

    def ledger(self, conn: Connection, stream_id: int) -> Ledger | None:
        return self.ledgers.get((self.side(conn), stream_id))

    def on_sent(self, sender: Connection, frame: Frame) -> None:
        key = (self.side(sender), frame.stream_id)
        if isinstance(frame, REQUEST_TYPES):
            ledger = self.ledgers.get(key)
            if ledger is not None and ledger.continuing:
                raise AssertionError(f"{key}: a request frame in the middle of a fragmented message")
            # A new stream we requested: only a channel lets us send later, once credit comes.
            self.ledgers[key] = Ledger(0 if isinstance(frame, RequestChannelFrame) else None)
            self.ledgers[key].continuing = frame.follows
        elif isinstance(frame, PayloadFrame):
            ledger = self.ledgers.get(key)
            assert ledger is not None, f"{key}: PAYLOAD on a stream this side never saw"
            if not ledger.continuing and frame.next:
                assert ledger.remaining >= 1, f"{key}: PAYLOAD[N] without credit ({ledger})"
                ledger.used += 1
            ledger.continuing = frame.follows and not frame.complete

    def on_received(self, receiver: Connection, frame: Frame | None, before: Stream | None) -> None:
        if frame is None or frame.stream_id == 0:
            return
        key = (self.side(receiver), frame.stream_id)
        after = receiver.stream(frame.stream_id)
        if isinstance(frame, REQUEST_TYPES):
            if before is None and after is not None and not after.is_requester:
                if isinstance(frame, RequestResponseFrame):
                    granted: int | None = 1
                elif isinstance(frame, RequestStreamFrame | RequestChannelFrame):
                    granted = frame.initial_request_n
                else:
                    granted = None
                self.ledgers[key] = Ledger(granted)
        elif isinstance(frame, RequestNFrame) and after is not None:
            ledger = self.ledgers.get(key)
            if ledger is not None and ledger.granted is not None:
                ledger.granted += frame.request_n


# =========================================================================== well-behaved workloads


@dataclass
class Plan:
    tag: int
    initiator: str
    kind: RequestKind
    request: bytes
    request_metadata: bytes | None
    responses: list[bytes]
    uploads: list[bytes]
    batch: int
    complete_in_request: bool
    stream_id: int = 0
    # What actually arrived.
    got_responses: list[bytes] = field(default_factory=list)
    responder_done: bool = False
    requester_done: bool = False
    got_request: bytes | None = None
    got_uploads: list[bytes] = field(default_factory=list)
    rejected: bool = False
    """The request crossed the peer's CONNECTION_CLOSE and was refused with REJECTED."""
    lost: bool = False
    """The request crossed the peer's CONNECTION_CLOSE and the peer's transport closed under it."""


@dataclass
class Serving:
    plan: Plan
    credit: int
    to_send: list[bytes]
    inbound_since_grant: int = 0
    completed: bool = False


@dataclass
class Requesting:
    plan: Plan
    credit: int = 0
    to_send: list[bytes] = field(default_factory=list)
    inbound_since_grant: int = 0
    outbound_done: bool = False


BLOB = st.integers(0, 300).map(lambda n: bytes([n % 251]) * n)
BATCH = st.sampled_from([1, 2, 3, MAX_U31])


@st.composite
def plans(draw: st.DrawFn, tag: int) -> Plan:
    kind = draw(st.sampled_from(list(RequestKind)))
    responses = draw(st.lists(BLOB, max_size=1 if kind is RequestKind.REQUEST_RESPONSE else 6))
    uploads = draw(st.lists(BLOB, max_size=4)) if kind is RequestKind.REQUEST_CHANNEL else []
    if kind is RequestKind.FIRE_AND_FORGET:
        responses = []
    return Plan(
        tag=tag,
        initiator=draw(st.sampled_from(["client", "server"])),
        kind=kind,
        request=f"plan-{tag}|".encode() + draw(BLOB),
        request_metadata=draw(st.none() | BLOB),
        responses=responses,
        uploads=uploads,
        batch=draw(BATCH),
        complete_in_request=kind is RequestKind.REQUEST_CHANNEL and not uploads and draw(st.booleans()),
    )


class App:
    """A scripted application on one side: it serves the peer's requests and runs its own."""

    def __init__(self, conn: Connection, plans: dict[int, Plan]) -> None:
        self.conn = conn
        self.plans = plans
        self.serving: dict[int, Serving] = {}
        self.requesting: dict[int, Requesting] = {}
        self.closed_events: list[Event] = []

    def start(self, plan: Plan) -> None:
        conn = self.conn
        if plan.kind is RequestKind.REQUEST_RESPONSE:
            plan.stream_id = conn.request_response(plan.request, plan.request_metadata)
        elif plan.kind is RequestKind.FIRE_AND_FORGET:
            plan.stream_id = conn.request_fire_and_forget(plan.request, plan.request_metadata)
            plan.requester_done = True
            return
        elif plan.kind is RequestKind.REQUEST_STREAM:
            plan.stream_id = conn.request_stream(plan.request, plan.request_metadata, initial_n=plan.batch)
        else:
            plan.stream_id = conn.request_channel(
                plan.request, plan.request_metadata, initial_n=plan.batch, complete=plan.complete_in_request
            )
        self.requesting[plan.stream_id] = Requesting(
            plan, to_send=list(plan.uploads), outbound_done=plan.kind is not RequestKind.REQUEST_CHANNEL
        )
        if plan.kind is RequestKind.REQUEST_CHANNEL and plan.complete_in_request:
            self.requesting[plan.stream_id].outbound_done = True

    def handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, RequestReceived):
                self.on_request(event)
            elif isinstance(event, RequestNReceived):
                if event.stream_id in self.serving:
                    self.serving[event.stream_id].credit += event.n
                else:
                    self.requesting[event.stream_id].credit += event.n
            elif isinstance(event, PayloadReceived):
                self.on_payload(event)
            elif isinstance(event, ErrorReceived):
                # The only error a well-behaved peer sends: our request arrived after it began closing.
                assert event.error_code == ErrorCode.REJECTED, event
                requesting = self.requesting.pop(event.stream_id)
                assert not requesting.plan.got_responses, requesting.plan
                requesting.plan.rejected = True
                requesting.plan.requester_done = True
            elif isinstance(event, GracefulCloseReceived | ConnectionClosed):
                self.closed_events.append(event)
                if isinstance(event, ConnectionClosed):
                    # Requests still outstanding crossed the peer's CONNECTION_CLOSE and met a
                    # closed transport (the peer had no stream left, so it closed at once).
                    for requesting in self.requesting.values():
                        if not requesting.plan.requester_done:
                            requesting.plan.lost = True
                            requesting.plan.requester_done = True
            else:
                raise AssertionError(f"a well-behaved peer caused {event!r}")
        self.pump_outbound()

    def on_request(self, event: RequestReceived) -> None:
        tag = int(event.data.split(b"|", 1)[0].removeprefix(b"plan-"))
        plan = self.plans[tag]
        assert event.kind is plan.kind
        assert event.metadata == plan.request_metadata
        plan.got_request = event.data
        if event.kind is RequestKind.FIRE_AND_FORGET:
            plan.responder_done = True
            return
        credit = 1 if event.kind is RequestKind.REQUEST_RESPONSE else event.initial_request_n
        self.serving[event.stream_id] = Serving(plan, credit, list(plan.responses))
        if event.kind is RequestKind.REQUEST_CHANNEL:
            assert event.complete is plan.complete_in_request
            if plan.uploads:
                self.conn.send_request_n(event.stream_id, plan.batch)

    def on_payload(self, event: PayloadReceived) -> None:
        if event.stream_id in self.serving:  # channel uploads towards our responder
            serving = self.serving[event.stream_id]
            plan = serving.plan
            if event.next:
                plan.got_uploads.append(event.data)
                serving.inbound_since_grant += 1
                expecting = len(plan.got_uploads) < len(plan.uploads)
                if expecting and serving.inbound_since_grant == plan.batch:
                    serving.inbound_since_grant = 0
                    self.conn.send_request_n(event.stream_id, plan.batch)
            if event.complete:
                assert plan.got_uploads == plan.uploads
            return
        requesting = self.requesting[event.stream_id]
        plan = requesting.plan
        if event.next:
            plan.got_responses.append(event.data)
            requesting.inbound_since_grant += 1
            expecting = len(plan.got_responses) < len(plan.responses)
            renew = plan.kind is not RequestKind.REQUEST_RESPONSE and expecting
            if renew and requesting.inbound_since_grant == plan.batch:
                requesting.inbound_since_grant = 0
                self.conn.send_request_n(event.stream_id, plan.batch)
        if event.complete:
            plan.requester_done = True

    def pump_outbound(self) -> None:
        for stream_id, serving in list(self.serving.items()):
            while serving.to_send and (serving.credit > 0 or credit_is_unbounded(serving.credit)):
                value = serving.to_send.pop(0)
                last = not serving.to_send
                self.conn.send_payload(stream_id, value, complete=last)
                serving.credit -= 1
                if last:
                    serving.completed = True
            if not serving.to_send and not serving.completed:
                self.conn.send_complete(stream_id)
                serving.completed = True
            if serving.completed:
                serving.plan.responder_done = True
        for stream_id, requesting in self.requesting.items():
            while requesting.to_send and (requesting.credit > 0 or credit_is_unbounded(requesting.credit)):
                value = requesting.to_send.pop(0)
                last = not requesting.to_send
                self.conn.send_payload(stream_id, value, complete=last and requesting.plan.tag % 2 == 0)
                requesting.credit -= 1
                if last and requesting.plan.tag % 2:
                    self.conn.send_complete(stream_id)  # the other way to half-close (RC-3)
                if last:
                    requesting.outbound_done = True
            if not requesting.to_send and not requesting.outbound_done:
                self.conn.send_complete(stream_id)  # a channel with nothing to upload
                requesting.outbound_done = True


KNOWN_BUG_CLOSING_NEVER_FINISHES = False
"""send_error / a finished fragmented FNF can empty the stream table of a CLOSING connection
without emitting ConnectionClosed (see test_graceful_close_completes_when_the_last_stream_ends).
Flip to False once fixed so the checks guarded by it are enforced."""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fragment_size=st.sampled_from([0, 64, 97, 256]),
    workload=st.integers(1, 8).flatmap(lambda n: st.tuples(*[plans(tag) for tag in range(n)])),
    seed=st.integers(0, 2**32),
    close=st.none() | st.tuples(st.sampled_from(["client", "server"]), st.integers(0, 40)),
)
def test_random_workloads_complete_cleanly(
    fragment_size: int, workload: tuple[Plan, ...], seed: int, close: tuple[str, int] | None
) -> None:
    """Every interaction finishes with every value delivered in order and no stream left behind.

    With ``close``, one side calls close_gracefully at that step: streams already open finish,
    requests that cross the CONNECTION_CLOSE are REJECTED (fire-and-forget: dropped), and both
    connections end up closed.
    """
    rng = random.Random(seed)  # delivery order; a seed rather than st.randoms() keeps examples small
    pair = AuditedPair(ConnectionConfig(fragment_size=fragment_size))
    pair.pump()
    pair.take_server_events()
    by_tag = {plan.tag: plan for plan in workload}
    apps = {"client": App(pair.client, by_tag), "server": App(pair.server, by_tag)}
    for plan in workload:
        apps[plan.initiator].start(plan)
    for step in range(10_000):
        if close is not None and step == close[1]:
            (pair.client if close[0] == "client" else pair.server).close_gracefully("done")
        choice = rng.randrange(3)
        if choice == 0:
            pair.deliver(to_server=rng.randint(1, 5))
        elif choice == 1:
            pair.deliver(to_client=rng.randint(1, 5))
        apps["client"].handle(pair.take_client_events())
        apps["server"].handle(pair.take_server_events())
        if step >= (close[1] if close else 0) and pair.in_flight == 0:
            break
    else:
        raise AssertionError("the workload never finished")
    closed = close is not None and close[1] <= step
    for plan in workload:
        assert plan.requester_done, plan
        unserved = plan.kind is RequestKind.FIRE_AND_FORGET and plan.got_request is None
        if plan.rejected or plan.lost or (closed and unserved):
            assert closed, plan
            assert plan.got_request is None, plan
            continue
        assert plan.got_request == plan.request, plan
        assert plan.responder_done, plan
        assert plan.got_responses == plan.responses, plan
        assert plan.got_uploads == plan.uploads, plan
    assert pair.client.stream_count == 0
    assert pair.server.stream_count == 0
    if not closed:
        assert pair.client.state is pair.server.state is ConnectionState.ESTABLISHED
        return
    has_fnf = any(plan.kind is RequestKind.FIRE_AND_FORGET for plan in workload)
    if KNOWN_BUG_CLOSING_NEVER_FINISHES and has_fnf and fragment_size:
        return
    assert pair.client.is_closed
    assert pair.server.is_closed
    assert close is not None
    closer = apps[close[0]]
    other = apps["server" if close[0] == "client" else "client"]
    assert no_text(closer.closed_events) == [ConnectionClosed(ErrorCode.CONNECTION_CLOSE, "", False)]
    # The other side closes when its own streams are done, or sees EOF if requests of its
    # own were still crossing the CONNECTION_CLOSE.
    lost_any = any(plan.lost for plan in workload)
    assert no_text(other.closed_events) == [
        GracefulCloseReceived(""),
        ConnectionClosed(None if lost_any else ErrorCode.CONNECTION_CLOSE, "", True),
    ]


# =========================================================================== chaos


SIDES = st.sampled_from(["client", "server"])
STREAM_IDS = st.integers(1, 12)
DATA = st.integers(0, 200).map(lambda n: b"d" * n)
METADATA = st.none() | st.integers(0, 80).map(lambda n: b"m" * n)
N = st.sampled_from([1, 2, 5, MAX_U31])


def small_ids(frame: Frame) -> bool:
    return frame.stream_id <= 12


PEER_FRAMES = st.one_of(
    fs.request_response_frames,
    fs.request_fnf_frames,
    fs.request_stream_frames,
    fs.request_channel_frames,
    fs.request_n_frames,
    fs.cancel_frames,
    fs.payload_frames,
    fs.error_frames,
    fs.keepalive_frames,
    fs.metadata_push_frames,
    fs.lease_frames,
    fs.setup_frames,
    fs.ext_frames,
).filter(small_ids)


def live_ids(conn: Connection) -> list[int]:
    """The ids in the connection's stream table.

    Connection has no public iterator over its streams, and injected junk can open a stream
    on any id, so this reads the private table.
    """
    ids = sorted(conn._streams)
    assert len(ids) == conn.stream_count
    return ids


class ChaosMachine(RuleBasedStateMachine):
    """Random API calls on both sides, random delivery, random peer frames, random time.

    Invariants: nothing raises except LocalProtocolError for a call the ledger says was
    misuse; no side sends PAYLOAD[N] beyond its credit (checked as frames leave); no finished
    stream lingers in a table; a closed connection has no streams and no timer.
    """

    pair: AuditedPair

    @initialize(fragment_size=st.sampled_from([0, 64, 100]))
    def start(self, fragment_size: int) -> None:
        config = ConnectionConfig(keepalive_interval=5.0, max_lifetime=20.0, fragment_size=fragment_size)
        self.pair = AuditedPair(config)
        self.pair.pump()

    def conn(self, side: str) -> Connection:
        return self.pair.client if side == "client" else self.pair.server

    def drain_events(self) -> None:
        self.pair.take_client_events()
        self.pair.take_server_events()

    # ---------------------------------------------------------------- requests

    @rule(
        side=SIDES,
        kind=st.sampled_from(list(RequestKind)),
        data=DATA,
        md=METADATA,
        n=N,
        complete=st.booleans(),
    )
    def request(
        self, side: str, kind: RequestKind, data: bytes, md: bytes | None, n: int, complete: bool
    ) -> None:
        conn = self.conn(side)
        usable = conn.state is ConnectionState.ESTABLISHED
        try:
            if kind is RequestKind.REQUEST_RESPONSE:
                conn.request_response(data, md)
            elif kind is RequestKind.FIRE_AND_FORGET:
                conn.request_fire_and_forget(data, md)
            elif kind is RequestKind.REQUEST_STREAM:
                conn.request_stream(data, md, initial_n=n)
            else:
                conn.request_channel(data, md, initial_n=n, complete=complete)
        except LocalProtocolError:
            assert not usable, "a valid request was refused"
        else:
            assert usable, f"a request was accepted while {conn.state}"

    @rule(side=SIDES, md=DATA)
    def metadata_push(self, side: str, md: bytes) -> None:
        conn = self.conn(side)
        usable = conn.state is ConnectionState.ESTABLISHED
        try:
            conn.metadata_push(md)
        except LocalProtocolError:
            assert not usable

    # ---------------------------------------------------------------- stream calls

    @rule(side=SIDES, stream_id=STREAM_IDS, data=DATA, md=METADATA, complete=st.booleans())
    def send_payload(self, side: str, stream_id: int, data: bytes, md: bytes | None, complete: bool) -> None:
        conn = self.conn(side)
        self.pair.collect()  # bring the ledger up to date with what was sent so far
        ledger = self.pair.ledger(conn, stream_id)
        try:
            conn.send_payload(stream_id, data, md, complete=complete)
        except LocalProtocolError:
            assert ledger is not None, "refused a send on a stream the ledger does not know"
            assert ledger.remaining < 1, f"refused a send the ledger allows: {ledger}"

    @rule(side=SIDES, stream_id=STREAM_IDS)
    def send_complete(self, side: str, stream_id: int) -> None:
        self.conn(side).send_complete(stream_id)

    @rule(side=SIDES, stream_id=STREAM_IDS, code=st.sampled_from([ErrorCode.APPLICATION_ERROR, 0x301]))
    def send_error(self, side: str, stream_id: int, code: int) -> None:
        conn = self.conn(side)
        stream = conn.stream(stream_id)
        if stream is not None and stream.is_requester and stream.kind is not RequestKind.REQUEST_CHANNEL:
            # RC-6: only a channel requester may end its stream with ERROR; the API refuses.
            with pytest.raises(LocalProtocolError):
                conn.send_error(stream_id, code, "chaos")
            return
        conn.send_error(stream_id, code, "chaos")

    @rule(side=SIDES, stream_id=STREAM_IDS)
    def send_cancel(self, side: str, stream_id: int) -> None:
        self.conn(side).send_cancel(stream_id)

    @rule(side=SIDES, stream_id=STREAM_IDS, n=N)
    def send_request_n(self, side: str, stream_id: int, n: int) -> None:
        self.conn(side).send_request_n(stream_id, n)

    @rule(side=SIDES)
    def close_gracefully(self, side: str) -> None:
        self.conn(side).close_gracefully("chaos")

    # ---------------------------------------------------------------- the wire and the clock

    @rule(to_server=st.integers(0, 6), to_client=st.integers(0, 6))
    def deliver(self, to_server: int, to_client: int) -> None:
        self.pair.deliver(to_server=to_server, to_client=to_client)
        self.drain_events()

    @rule()
    def pump(self) -> None:
        self.pair.pump()
        self.drain_events()

    @rule(side=SIDES, frame=PEER_FRAMES)
    def inject_frame(self, side: str, frame: Frame) -> None:
        self.pair.receive(self.conn(side), encode_frame(frame))
        self.drain_events()

    @rule(side=SIDES, junk=st.binary(max_size=40))
    def inject_junk(self, side: str, junk: bytes) -> None:
        self.pair.receive(self.conn(side), junk)
        self.drain_events()

    @rule(dt=st.floats(0.0, 30.0))
    def advance_time(self, dt: float) -> None:
        self.pair.now += dt
        self.pair.client.handle_timer(self.pair.now)
        self.pair.server.handle_timer(self.pair.now)
        self.drain_events()

    # ---------------------------------------------------------------- invariants

    @invariant()
    def tables_are_consistent(self) -> None:
        if not hasattr(self, "pair"):
            return
        for conn in (self.pair.client, self.pair.server):
            for stream_id in live_ids(conn):
                stream = conn.stream(stream_id)
                assert stream is not None
                assert not stream.finished, f"finished stream lingers: {stream!r}"
            if conn.is_closed:
                assert conn.stream_count == 0
                assert conn.next_timer() is None
            else:
                assert conn.next_timer() is not None
            if not KNOWN_BUG_CLOSING_NEVER_FINISHES and conn.state is ConnectionState.CLOSING:
                assert conn.stream_count > 0, "CLOSING with no streams left: ConnectionClosed never came"

    @precondition(lambda self: hasattr(self, "pair"))
    @rule()
    def settle_everything(self) -> None:
        """End every stream the way its owner may (requester: CANCEL; responder: ERROR) and check
        that both tables then stay empty once the frames have crossed."""
        pair = self.pair
        pair.pump()
        self.drain_events()
        for conn in (pair.client, pair.server):
            for stream_id in live_ids(conn):
                stream = conn.stream(stream_id)
                assert stream is not None
                if stream.is_requester:
                    assert conn.send_cancel(stream_id)
                else:
                    assert conn.send_error(stream_id, ErrorCode.APPLICATION_ERROR, "settle")
            assert conn.stream_count == 0
        pair.pump()
        for event in pair.take_client_events() + pair.take_server_events():
            assert isinstance(event, ErrorReceived | CancelReceived | ConnectionClosed), event
        assert pair.client.stream_count == 0
        assert pair.server.stream_count == 0


ChaosMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_chaos = ChaosMachine.TestCase


# =========================================================================== the auditor itself


def test_the_credit_audit_catches_an_overrun() -> None:
    """Guard for the harness: a sender that ignores its credit must trip the ledger."""
    pair = AuditedPair()
    pair.pump()
    stream_id = pair.client.request_stream(b"", initial_n=1)
    pair.pump()
    stream = pair.server.stream(stream_id)
    assert stream is not None
    stream.send_credit = 5  # corrupt the engine's own count
    pair.server.send_payload(stream_id, b"1")
    pair.server.send_payload(stream_id, b"2")
    with pytest.raises(AssertionError, match="without credit"):
        pair.collect()
