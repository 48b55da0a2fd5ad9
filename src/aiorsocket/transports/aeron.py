"""Aeron (``aeron+udp://HOST:PORT``): one RSocket frame per Aeron message, no length prefix (§4).

Aeron moves messages between publications and subscriptions through a media driver (one per
host); it is reliable, ordered and message-based, but one-way and connectionless, so a connection
is a pair of publications that this module sets up with a handshake (all on stream id
:data:`STREAM_ID`):

1. The server subscribes to ``aeron:udp?endpoint=HOST:PORT``.  Every client publication that
   reaches it shows up as an *image* with its own session id: one image, one connection.
2. The client subscribes to a reply endpoint of its own (``aeron:udp?endpoint=CLIENT_IP:PORT``,
   a free UDP port on the address it reaches the server from), publishes to the server's endpoint,
   waits until that publication is connected (a subscriber acknowledged it), and sends HELLO as its
   first message: ``"RSKT" u8 version=1 u8 0 u16 0 u64 nonce`` then the reply channel in UTF-8.
3. The server, on the first message of a new image, checks HELLO (the reply address must be the
   image's source address, so nobody can point a server at a third party), publishes to the reply
   channel, waits until connected and sends WELCOME as its first message there:
   ``"RSKT" u8 version=1 u8 status u16 0 u64 nonce`` then, if status is 1 (refused), a UTF-8 reason.
4. The client takes the first image on its reply subscription whose first message is a WELCOME with
   its nonce (anything else, e.g. a stale publisher to a reused port, is ignored).  From then on every
   message each way is exactly one RSocket frame.

The end of a connection is the end of an image: a peer that closes its publication ends it cleanly
(Aeron's end-of-stream); a peer that vanishes ends it when the driver's image liveness timeout
passes without data or heartbeats (10 s by default).  A publication whose subscriber stops
acknowledging (5 s by default) also ends the connection.

Sends never block: a frame Aeron refuses for back pressure waits in a queue that is retried from
the loop, and the queue's watermarks drive ``write_paused`` like a socket's send buffer.  A frame
over the publication's maximum message (a quarter of the term length: 4 MiB with the driver's
default 16 MiB terms) cannot travel whole: RSocket fragmentation must cut it first, so pass
``fragment_size=`` no larger than :data:`MAX_MESSAGE_SIZE` to ``connect()`` and ``serve()`` for
payloads that big (FL-1, FR-1); a bigger frame ends the connection with an error saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import re
import secrets
import socket
import struct
from collections.abc import Callable
from typing import Any, Final

from ..errors import (
    ConnectionLostError,
    ErrorCode,
    FaultLevel,
    FrameTooLargeError,
    LocalProtocolError,
    ProtocolError,
)
from ..frames.types import MAX_FRAME_SIZE
from .aeron_client import _native
from .aeron_client.client import AeronClient, SubscriptionHandle
from .base import FrameReceiver, FrameTransport, Listener, WriteGate
from .stream import WRITE_HIGH_WATER, WRITE_LOW_WATER

logger = logging.getLogger("aiorsocket.aeron")

#: The Aeron stream id of every RSocket connection, both ways ("RSKT").
STREAM_ID: Final = 0x52534B54
#: The largest frame a publication takes with the driver's default 16 MiB terms.
MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024
#: Seconds allowed for the handshake (publication connected, HELLO answered by WELCOME).
HANDSHAKE_TIMEOUT: Final = 10.0
#: Seconds a closing connection may take to hand its queued frames to Aeron.
CLOSE_TIMEOUT: Final = 5.0
#: Frames held before the session attaches, past which the peer is cut off.
HELD_LIMIT_EXTRA: Final = 1024 * 1024
#: Aeron's bounds on a channel's MTU (its packet size, headers included; a multiple of 32).
MIN_MTU: Final = 64
MAX_MTU: Final = 65504
#: Attempts at binding a reply endpoint, or a listener on port 0, to a free UDP port.
BIND_ATTEMPTS: Final = 5

_HEADER = struct.Struct("!4sBBHQ")
_MAGIC: Final = b"RSKT"
_VERSION: Final = 1
_ACCEPTED: Final = 0
_REFUSED: Final = 1
_CHANNEL = re.compile(r"aeron:udp\?endpoint=(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d{1,5})(?:\|mtu=(\d{1,5}))?")


def _endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def channel_for(host: str, port: int, mtu: int | None = None) -> str:
    channel = f"aeron:udp?endpoint={_endpoint(host, port)}"
    return channel if mtu is None else f"{channel}|mtu={mtu}"


def _valid_mtu(mtu: int) -> bool:
    return MIN_MTU <= mtu <= MAX_MTU and mtu % 32 == 0


def _free_udp_port(host: str) -> int:
    """A port the system says is free on ``host``; the driver binds it just after (a retried race)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _local_address_towards(host: str, port: int) -> str:
    """The address this host sends from to reach ``host``: where the server's replies must come."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port))
        return str(probe.getsockname()[0])


def _is_bind_failure(exc: _native.RegistrationError) -> bool:
    return "bind" in str(exc).lower() or "address" in str(exc).lower()


class AeronFrameTransport(FrameTransport):
    """One RSocket connection over Aeron: our publication out, one image of a subscription in."""

    def __init__(
        self,
        client: AeronClient,
        publication: _native.Publication,
        subscription: SubscriptionHandle,
        session_id: int,
        *,
        owns_subscription: bool,
        max_frame_size: int,
        peer: tuple[str, int],
        local: tuple[str, int],
        on_finished: Callable[[AeronFrameTransport], None] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = client
        self._publication = publication
        self._subscription = subscription
        self.session_id = session_id
        """The session id of the peer's publication, as our subscription sees its image."""
        self._owns_subscription = owns_subscription
        self._max_frame_size = max_frame_size
        self._peer = peer
        self._local = local
        self._on_finished = on_finished
        self.max_message_size = publication.max_message_length
        """The largest frame our publication takes; larger ones need RSocket fragmentation."""
        self._receiver: FrameReceiver | None = None
        # Frames not yet handed to the session: before attach, or while reading is paused.
        self._held: list[memoryview] = []
        self._held_bytes = 0
        self._reading = True
        self._broken = False
        # Frames Aeron refused for back pressure, from index _head on, retried from the loop.
        self._queue: list[bytes] = []
        self._head = 0
        self._queued_bytes = 0
        self._retry: asyncio.Handle | None = None
        # Set while the binding watches our back-pressured publication for us.
        self._watch: int | None = None
        self._write_gate = WriteGate()
        self._closing = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._loss: tuple[BaseException | None] | None = None
        self._loss_reported = False
        self._closed: asyncio.Future[None] = self._loop.create_future()

    # inbound, from the subscription's listener --------------------------------------------

    def frames_arrived(self, frames: list[memoryview]) -> None:
        if self._broken or self._closing or self._loss is not None:
            return
        if max(map(len, frames), default=0) > self._max_frame_size:
            self._oversized(frames)
            return
        if self._receiver is not None and self._reading and not self._held:
            self._receiver.frames_received(frames)
            return
        self._held.extend(frames)
        self._held_bytes += sum(map(len, frames))
        if self._receiver is None and self._held_bytes > self._max_frame_size + HELD_LIMIT_EXTRA:
            self._framing_failed(
                ProtocolError(f"the peer sent {self._held_bytes} bytes before the session started", rule="§4")
            )

    def _oversized(self, frames: list[memoryview]) -> None:
        """Frames before the oversized one still reach the session, as over TCP (FL-1)."""
        for index, frame in enumerate(frames):
            if len(frame) > self._max_frame_size:
                if index:
                    self.frames_arrived(frames[:index])
                self._framing_failed(
                    FrameTooLargeError(
                        f"an Aeron message of {len(frame)} bytes arrived; "
                        f"the frame limit is {self._max_frame_size}",
                        rule="FL-1",
                        level=FaultLevel.CONNECTION,
                        error_code=ErrorCode.CONNECTION_ERROR,
                    )
                )
                return

    def _framing_failed(self, exc: ProtocolError) -> None:
        self._broken = True
        self._held.clear()
        self._held_bytes = 0
        if self._receiver is not None:
            self._receiver.framing_failed(exc)
        else:
            self.abort()

    def image_ended(self, clean: bool) -> None:
        """The peer's publication is gone: closed (``clean``) or silent past the liveness timeout."""
        if clean:
            self._finish(None)
        else:
            self._finish(
                ConnectionLostError(
                    f"the Aeron peer at {_endpoint(*self._peer)} vanished: no data or heartbeat "
                    "within the driver's image liveness timeout"
                )
            )

    def client_failed(self, exc: BaseException) -> None:
        self._finish(ConnectionLostError(str(exc)))

    # outbound ------------------------------------------------------------------------------

    def write_frames(self, frames: list[bytes]) -> None:
        if self._closing or self._loss is not None:
            return
        if self._queue:
            self._enqueue(frames)
            return
        sent, result = self._publication.offer_many(frames, 0)
        if sent < len(frames):
            self._enqueue(frames[sent:] if sent else frames)
            self._refused(result)

    def _enqueue(self, frames: list[bytes]) -> None:
        self._queue.extend(frames)
        self._queued_bytes += sum(map(len, frames))
        if self._queued_bytes > WRITE_HIGH_WATER:
            self._write_gate.pause()

    def _drain(self) -> None:
        self._retry = None
        if self._loss is not None:
            return
        queue = self._queue
        head = self._head
        sent, result = self._publication.offer_many(queue, head)
        self._queued_bytes -= sum(map(len, itertools.islice(queue, head, sent)))
        if sent == len(queue):
            queue.clear()
            self._head = 0
        else:
            self._head = sent
            if sent > 1024 and sent * 2 > len(queue):
                del queue[:sent]
                self._head = 0
        if self._write_gate.paused and self._queued_bytes <= WRITE_LOW_WATER:
            self._write_gate.resume()
        if queue:
            self._refused(result)
        elif self._closing:
            self._finish(None)

    def _refused(self, result: int) -> None:
        if result == _native.BACK_PRESSURED:
            # The subscriber is behind: retry once the binding sees the publication limit move.
            if self._watch is None:
                self._watch = self._client.watch_writable(self._publication, self._writable)
            return
        if result == _native.ADMIN_ACTION:
            # A term rotation under way: over in an instant.
            if self._retry is None:
                self._retry = self._loop.call_soon(self._drain)
            return
        if result == _native.MESSAGE_TOO_LONG:
            size = len(self._queue[self._head])
            message = (
                f"a frame of {size} bytes is over this Aeron publication's maximum message of "
                f"{self.max_message_size} bytes; RSocket fragments requests and payloads to fit, but "
                "not METADATA_PUSH, ERROR or SETUP frames (FR-1): keep those under it"
            )
        elif result == _native.NOT_CONNECTED:
            message = f"the Aeron peer at {_endpoint(*self._peer)} stopped acknowledging our publication"
        elif result == _native.MAX_POSITION_EXCEEDED:
            message = "the Aeron publication reached its maximum position; reconnect"
        else:
            message = "the Aeron publication was closed (by its client or driver)"
        self._finish(ConnectionLostError(message))

    def _writable(self) -> None:
        self._watch = None
        self._drain()

    # the end -------------------------------------------------------------------------------

    def _finish(self, exc: BaseException | None) -> None:
        """Release the publication (Aeron still delivers what it took, then ends the stream) and the
        subscription if it is ours; tell the session once it is attached."""
        if self._loss is not None:
            return
        self._loss = (exc,)
        for handle in (self._retry, self._close_timer):
            if handle is not None:
                handle.cancel()
        if self._watch is not None:
            self._client.unwatch(self._watch)
        self._queue.clear()
        self._held.clear()
        self._publication.close()
        if self._owns_subscription:
            self._subscription.close()
        self._client.release()
        self._write_gate.close()
        self._closed.set_result(None)
        if self._on_finished is not None:
            self._on_finished(self)
        self._report_loss()

    def _report_loss(self) -> None:
        if self._loss is None or self._loss_reported or self._receiver is None:
            return
        self._loss_reported = True
        self._receiver.transport_lost(self._loss[0])

    # FrameTransport ------------------------------------------------------------------------

    def attach(self, receiver: FrameReceiver) -> None:
        self._receiver = receiver
        self._release_held()
        self._report_loss()

    def _release_held(self) -> None:
        if self._receiver is not None and self._reading and self._held:
            frames, self._held = self._held, []
            self._held_bytes = 0
            self._receiver.frames_received(frames)

    @property
    def write_paused(self) -> bool:
        return self._write_gate.paused

    async def wait_writable(self) -> None:
        await self._write_gate.wait()

    def pause_reading(self) -> None:
        if self._reading and self._loss is None:
            self._reading = False
            self._subscription.pause(self.session_id)

    def resume_reading(self) -> None:
        if not self._reading and self._loss is None:
            self._reading = True
            self._subscription.resume(self.session_id)
            self._release_held()

    def close(self) -> None:
        """Hand queued frames to Aeron (bounded by CLOSE_TIMEOUT), then end our publication."""
        if self._closing or self._loss is not None:
            return
        self._closing = True
        self._held.clear()
        if not self._queue:
            self._finish(None)
            return
        self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self.abort)

    def abort(self) -> None:
        self._finish(None)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peer
        if name == "sockname":
            return self._local
        if name == "aeron_session_id":
            return self.session_id
        if name == "max_message_size":
            return self.max_message_size
        return default


# -- the client side ------------------------------------------------------------------------


class _ReplyListener:
    """The client's own reply subscription: waits for the WELCOME, then feeds one transport."""

    def __init__(self, nonce: int, server: str) -> None:
        self._nonce = nonce
        self._server = server
        self.welcome: asyncio.Future[tuple[int, list[memoryview]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.transport: AeronFrameTransport | None = None
        self._ignored: set[int] = set()

    def image_frames(self, session_id: int, frames: list[memoryview]) -> None:
        transport = self.transport
        if transport is not None:
            if session_id == transport.session_id:
                transport.frames_arrived(frames)
            return
        if session_id in self._ignored or self.welcome.done():
            return
        status = _parse_welcome(frames[0], self._nonce)
        if status is None:
            self._ignored.add(session_id)
        elif isinstance(status, str):
            self.welcome.set_exception(
                ConnectionRefusedError(f"{self._server} refused the connection: {status}")
            )
        else:
            self.welcome.set_result((session_id, frames[1:]))

    def image_ended(self, session_id: int, clean: bool) -> None:
        self._ignored.discard(session_id)
        transport = self.transport
        if transport is not None and session_id == transport.session_id:
            transport.image_ended(clean)

    def client_failed(self, exc: BaseException) -> None:
        if self.transport is not None:
            self.transport.client_failed(exc)
        elif not self.welcome.done():
            self.welcome.set_exception(exc)


def _parse_welcome(message: memoryview, nonce: int) -> int | str | None:
    """The WELCOME's status (0), a refusal's reason, or None for anything not meant for us."""
    if len(message) < _HEADER.size:
        return None
    magic, version, status, _, echoed = _HEADER.unpack_from(message)
    if magic != _MAGIC or version != _VERSION or echoed != nonce:
        return None
    if status == _ACCEPTED:
        return 0
    return bytes(message[_HEADER.size :]).decode("utf-8", "replace") or "no reason given"


async def _subscribe_free_port(
    client: AeronClient, host: str, port: int, listener: _ReplyListener | _ServerListener
) -> tuple[SubscriptionHandle, int]:
    """Subscribes on ``host:port``, or on a free port when ``port`` is 0 (retrying a lost race)."""
    for attempt in range(BIND_ATTEMPTS):
        chosen = port or _free_udp_port(host)
        try:
            return await client.add_subscription(channel_for(host, chosen), STREAM_ID, listener), chosen
        except _native.RegistrationError as exc:
            if port or attempt == BIND_ATTEMPTS - 1 or not _is_bind_failure(exc):
                raise OSError(f"cannot receive on aeron:udp {_endpoint(host, chosen)}: {exc}") from None
    raise AssertionError("unreachable")


async def _wait_connected(publication: _native.Publication, deadline: float, what: str) -> None:
    """Aeron has no notification for this: poll the flag, backing off, until the deadline."""
    loop = asyncio.get_running_loop()
    delay = 0.0005
    while not publication.is_connected:
        if loop.time() > deadline:
            raise ConnectionRefusedError(what)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.02)


async def _offer_handshake(publication: _native.Publication, message: bytes, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while (result := publication.offer(message)) < 0:
        if result not in (_native.BACK_PRESSURED, _native.ADMIN_ACTION, _native.NOT_CONNECTED):
            raise ConnectionResetError(f"the Aeron handshake could not be sent (offer result {result})")
        if loop.time() > deadline:
            raise ConnectionRefusedError("the Aeron handshake could not be sent in time")
        await asyncio.sleep(0.001)


async def connect_aeron(
    host: str, port: int, *, directory: str, mtu: int | None = None, max_frame_size: int = MAX_FRAME_SIZE
) -> AeronFrameTransport:
    """``mtu`` (Aeron's packet size, 1408 by default) applies to both directions: the server
    publishes its replies with the same channel settings."""
    if mtu is not None and not _valid_mtu(mtu):
        raise LocalProtocolError(
            f"mtu must be a multiple of 32 in {MIN_MTU}..{MAX_MTU} (Aeron's bounds), not {mtu}"
        )
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    server_ip = str(infos[0][4][0])
    server = f"aeron+udp://{_endpoint(host, port)}"
    local_ip = _local_address_towards(server_ip, port)
    client = await AeronClient.acquire(directory)
    nonce = secrets.randbits(64)
    listener = _ReplyListener(nonce, server)
    subscription: SubscriptionHandle | None = None
    publication: _native.Publication | None = None
    try:
        deadline = loop.time() + HANDSHAKE_TIMEOUT
        subscription, reply_port = await _subscribe_free_port(client, local_ip, 0, listener)
        publication = await client.add_publication(channel_for(server_ip, port, mtu), STREAM_ID)
        await _wait_connected(
            publication,
            deadline,
            f"no RSocket Aeron server at {server}: nothing subscribed to that UDP endpoint "
            f"within {HANDSHAKE_TIMEOUT:g} s",
        )
        reply_channel = channel_for(local_ip, reply_port, mtu)
        hello = _HEADER.pack(_MAGIC, _VERSION, 0, 0, nonce) + reply_channel.encode()
        await _offer_handshake(publication, hello, deadline)
        try:
            async with asyncio.timeout_at(deadline):
                session_id, early = await listener.welcome
        except TimeoutError:
            raise ConnectionRefusedError(f"{server} did not answer the Aeron handshake") from None
    except BaseException:
        if publication is not None:
            publication.close()
        if subscription is not None:
            subscription.close()
        client.release()
        raise
    transport = listener.transport = AeronFrameTransport(
        client,
        publication,
        subscription,
        session_id,
        owns_subscription=True,
        max_frame_size=max_frame_size,
        peer=(server_ip, port),
        local=(local_ip, reply_port),
    )
    if early:
        transport.frames_arrived(early)
    return transport


# -- the server side ------------------------------------------------------------------------


class _ServerListener:
    """Reads the server subscription: a handshake per new image, then frames to its connection."""

    def __init__(self, aeron_listener: AeronListener) -> None:
        self._owner = aeron_listener
        self.connections: dict[int, AeronFrameTransport] = {}
        # Images in their handshake: frames that come early wait here.
        self.pending: dict[int, list[memoryview]] = {}
        # Images we will not serve (a bad HELLO, a closed connection whose image lingers).
        self.ignored: set[int] = set()

    def image_frames(self, session_id: int, frames: list[memoryview]) -> None:
        transport = self.connections.get(session_id)
        if transport is not None:
            transport.frames_arrived(frames)
        elif session_id in self.pending:
            self.pending[session_id].extend(frames)
        elif session_id not in self.ignored:
            self.pending[session_id] = frames[1:]
            self._owner.handshake(session_id, frames[0])

    def image_ended(self, session_id: int, clean: bool) -> None:
        self.ignored.discard(session_id)
        self.pending.pop(session_id, None)
        transport = self.connections.get(session_id)
        if transport is not None:
            transport.image_ended(clean)

    def client_failed(self, exc: BaseException) -> None:
        for transport in list(self.connections.values()):
            transport.client_failed(exc)
        self._owner.failed()


class AeronListener(Listener):
    """A server subscription: every client publication reaching it is one connection."""

    def __init__(
        self,
        client: AeronClient,
        scheme: str,
        host: str,
        on_transport: Callable[[FrameTransport], None],
        max_frame_size: int,
        query: str,
    ) -> None:
        self._client = client
        self._scheme = scheme
        self._host = host
        self._port = 0
        self._on_transport = on_transport
        self._max_frame_size = max_frame_size
        self._query = query
        self._reader = _ServerListener(self)
        self._subscription: SubscriptionHandle | None = None
        self._accepting = True
        self._handshakes: set[asyncio.Task[None]] = set()
        self._all_ended = asyncio.get_running_loop().create_future()
        self._released = False

    async def _bind(self, port: int) -> None:
        self._subscription, self._port = await _subscribe_free_port(
            self._client, self._host, port, self._reader
        )

    def handshake(self, session_id: int, hello: memoryview) -> None:
        task = asyncio.get_running_loop().create_task(self._handshake(session_id, bytes(hello)))
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, session_id: int, hello: bytes) -> None:
        reader = self._reader
        assert self._subscription is not None
        parsed = self._parse_hello(session_id, hello)
        if parsed is None:
            reader.pending.pop(session_id, None)
            reader.ignored.add(session_id)
            return
        nonce, reply_host, reply_port, mtu = parsed
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANDSHAKE_TIMEOUT
        publication: _native.Publication | None = None
        try:
            publication = await self._client.add_publication(
                channel_for(reply_host, reply_port, mtu), STREAM_ID
            )
            await _wait_connected(
                publication, deadline, f"the client's reply endpoint {reply_host}:{reply_port}"
            )
            status = _ACCEPTED if self._accepting else _REFUSED
            welcome = _HEADER.pack(_MAGIC, _VERSION, status, 0, nonce)
            if status == _REFUSED:
                welcome += b"the server is shutting down"
            await _offer_handshake(publication, welcome, deadline)
        except (OSError, _native.AeronError) as exc:
            logger.info("Aeron handshake with %s:%d failed: %s", reply_host, reply_port, exc)
            if publication is not None:
                publication.close()
            reader.pending.pop(session_id, None)
            reader.ignored.add(session_id)
            return
        except BaseException:
            if publication is not None:
                publication.close()
            raise
        early = reader.pending.pop(session_id, None)
        if status == _REFUSED or early is None:
            # Refused, or the client's image ended during the handshake.
            publication.close()
            reader.ignored.add(session_id)
            return
        self._client.retain()
        transport = reader.connections[session_id] = AeronFrameTransport(
            self._client,
            publication,
            self._subscription,
            session_id,
            owns_subscription=False,
            max_frame_size=self._max_frame_size,
            peer=(reply_host, reply_port),
            local=(self._host, self._port),
            on_finished=self._ended,
        )
        if early:
            transport.frames_arrived(early)
        self._on_transport(transport)

    def _parse_hello(self, session_id: int, hello: bytes) -> tuple[int, str, int, int | None] | None:
        assert self._subscription is not None
        source = self._subscription.source_identity(session_id)
        if len(hello) < _HEADER.size or source is None:
            return None
        magic, version, _, _, nonce = _HEADER.unpack_from(hello)
        match = _CHANNEL.fullmatch(hello[_HEADER.size :].decode("utf-8", "replace"))
        if magic != _MAGIC or version != _VERSION or match is None:
            logger.info(
                "Aeron image %d from %s did not start with an RSocket HELLO; ignored", session_id, source
            )
            return None
        host, port = match.group(1).strip("[]"), int(match.group(2))
        mtu = int(match.group(3)) if match.group(3) else None
        source_host = source.rsplit(":", 1)[0].strip("[]")
        with contextlib.suppress(ValueError):
            same_host = ipaddress.ip_address(host) == ipaddress.ip_address(source_host)
            if same_host and 0 < port < 65536 and (mtu is None or _valid_mtu(mtu)):
                return nonce, host, port, mtu
        logger.info("Aeron HELLO from %s asks for replies to %s:%d; refused", source, host, port)
        return None

    def _ended(self, transport: AeronFrameTransport) -> None:
        reader = self._reader
        if reader.connections.get(transport.session_id) is transport:
            del reader.connections[transport.session_id]
            # Its image lingers until the client closes its side: what still arrives is dropped.
            reader.ignored.add(transport.session_id)
        if not self._accepting and not reader.connections and not self._all_ended.done():
            self._all_ended.set_result(None)

    def failed(self) -> None:
        self._accepting = False
        if not self._all_ended.done():
            self._all_ended.set_result(None)

    @property
    def uri(self) -> str:
        return f"{self._scheme}://{_endpoint(self._host, self._port)}{self._query}"

    @property
    def addresses(self) -> list[Any]:
        return [(self._host, self._port)]

    def close(self) -> None:
        """Stop accepting (later HELLOs are refused); connections already handed over go on."""
        self._accepting = False
        if not self._reader.connections and not self._all_ended.done():
            self._all_ended.set_result(None)

    async def wait_closed(self) -> None:
        """The subscription carries every connection's frames: it closes once they have all ended."""
        await asyncio.shield(self._all_ended)
        for task in list(self._handshakes):
            task.cancel()
        await asyncio.gather(*self._handshakes, return_exceptions=True)
        if not self._released:
            self._released = True
            if self._subscription is not None:
                self._subscription.close()
            self._client.release()


async def listen_aeron(
    host: str,
    port: int,
    on_transport: Callable[[FrameTransport], None],
    *,
    directory: str,
    scheme: str = "aeron+udp",
    query: str = "",
    max_frame_size: int = MAX_FRAME_SIZE,
) -> AeronListener:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    client = await AeronClient.acquire(directory)
    listener = AeronListener(client, scheme, str(infos[0][4][0]), on_transport, max_frame_size, query)
    try:
        await listener._bind(port)
    except BaseException:
        client.release()
        raise
    return listener
