"""rsocket-py (PyPI ``rsocket`` 0.4.20) conformance server over TCP.

    python tests/interop/peers/rsocket_py/server.py --port P [--reject-setup]

Prints exactly one line ``READY <port>`` on stdout once listening on 127.0.0.1 (port 0 picks a
free port); library logging goes to stderr.

Semantics (per connection; see tests/interop/harness.py): request/response ``error`` -> ERROR
[APPLICATION_ERROR] ``boom``, ``count`` / ``pushcount`` -> counters, anything else ->
``echo:`` + data with the metadata echoed; request/stream N -> ``0`` .. ``N-1`` generated only as
credit arrives; request/channel echoes every payload; with composite metadata in SETUP a routing
entry selects the handler. Responses are fragmented at 64 KiB (rsocket-py counts the whole frame
including the 3-byte length prefix).

Peer behaviour worth knowing: after answering SETUP with ERROR[REJECTED_SETUP] rsocket-py keeps
the connection open, and it never closes idle connections past their keepalive lifetime.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from typing import Any

from reactivestreams.publisher import Publisher
from reactivestreams.subscriber import Subscriber
from reactivestreams.subscription import Subscription
from rsocket.error_codes import ErrorCode
from rsocket.extensions.composite_metadata import CompositeMetadata
from rsocket.extensions.routing import RoutingMetadata
from rsocket.payload import Payload
from rsocket.request_handler import BaseRequestHandler
from rsocket.rsocket_server import RSocketServer
from rsocket.transports.tcp import TransportTCP

COMPOSITE_MIME = "message/x.rsocket.composite-metadata.v0"
FRAGMENT_SIZE = 65536
READ_BUFFER = 65536
MAX_REQUEST_N = 0x7FFFFFFF


def _answer(payload: Payload) -> asyncio.Future[Payload]:
    future: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
    future.set_result(payload)
    return future


def _fail(message: str) -> asyncio.Future[Payload]:
    # rsocket-py sends a plain exception as ERROR[APPLICATION_ERROR] with str(exc) as the data.
    future: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
    future.set_exception(RuntimeError(message))
    return future


class RouteError(Exception):
    """The request's composite metadata could not be used to pick a handler."""


def _text(value: bytes | None) -> str:
    return "" if value is None else bytes(value).decode("utf-8", "replace")


class CountingStream(Publisher, Subscription):  # type: ignore[misc]
    """Publishes ``b"0"`` .. ``str(count - 1)``, never more than the subscriber requested."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._next = 0
        self._credit = 0
        self._done = False
        self._cancelled = False
        self._subscriber: Subscriber | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber
        subscriber.on_subscribe(self)

    def request(self, n: int) -> None:
        self._credit = min(MAX_REQUEST_N, self._credit + n)
        subscriber = self._subscriber
        if subscriber is None:
            return
        while not self._cancelled and not self._done and self._credit > 0 and self._next < self._count:
            self._credit -= 1
            last = self._next == self._count - 1
            item = Payload(str(self._next).encode())
            self._next += 1
            if last:
                self._done = True
            subscriber.on_next(item, is_complete=last)  # C on the last item, as rsocket-py does
        if not self._cancelled and not self._done and self._next >= self._count:
            self._done = True
            subscriber.on_complete()

    def cancel(self) -> None:
        self._cancelled = True


class EchoChannel(Publisher, Subscription, Subscriber):  # type: ignore[misc]
    """Echoes every inbound payload. Inbound demand mirrors outbound demand, so at most the
    requested number of payloads is ever buffered."""

    def __init__(self, first: Payload, inbound_complete: bool) -> None:
        self._buffer: list[Payload] = [first]
        self._credit = 0
        self._first_grant = True
        self._inbound_done = inbound_complete
        self._outbound_done = False
        self._cancelled = False
        self._out: Subscriber | None = None
        self._inbound: Subscription | None = None

    # -- Publisher / Subscription: the echoes we send, driven by the requester's REQUEST_N
    def subscribe(self, subscriber: Subscriber) -> None:
        self._out = subscriber
        subscriber.on_subscribe(self)

    def request(self, n: int) -> None:
        self._credit = min(MAX_REQUEST_N, self._credit + n)
        ask = n - 1 if self._first_grant else n  # the first payload came with REQUEST_CHANNEL
        self._first_grant = False
        if ask > 0 and not self._inbound_done and self._inbound is not None:
            self._inbound.request(ask)
        self._flush()

    def cancel(self) -> None:
        self._cancelled = True

    # -- Subscriber: the payloads the requester sends us
    def on_subscribe(self, subscription: Subscription) -> None:
        self._inbound = subscription

    def on_next(self, value: Payload, is_complete: bool = False) -> None:
        self._buffer.append(value)
        if is_complete:
            self._inbound_done = True
        self._flush()

    def on_error(self, exception: Exception) -> None:
        print(f"channel inbound error: {exception}", file=sys.stderr)
        self._cancelled = True

    def on_complete(self) -> None:
        self._inbound_done = True
        self._flush()

    def _flush(self) -> None:
        out = self._out
        if out is None:
            return
        while not self._cancelled and not self._outbound_done and self._credit > 0 and self._buffer:
            self._credit -= 1
            item = self._buffer.pop(0)
            last = self._inbound_done and not self._buffer
            if last:
                self._outbound_done = True
            out.on_next(Payload(item.data, item.metadata), is_complete=last)
        if not self._cancelled and not self._outbound_done and self._inbound_done and not self._buffer:
            self._outbound_done = True
            out.on_complete()


class ConformanceHandler(BaseRequestHandler):  # type: ignore[misc]
    """One instance per connection (rsocket-py calls the handler factory per RSocketServer)."""

    def __init__(self, reject_setup: bool, live: set[RSocketServer]) -> None:
        self._reject_setup = reject_setup
        self._live = live
        self._composite = False
        self._fnf = 0
        self._pushes = 0

    async def on_setup(self, data_encoding: bytes, metadata_encoding: bytes, payload: Payload) -> None:
        if self._reject_setup:
            # rsocket-py turns an exception here into ERROR[REJECTED_SETUP] with str(exc) as data.
            raise Exception("go away")
        mime = metadata_encoding.decode() if isinstance(metadata_encoding, bytes) else str(metadata_encoding)
        self._composite = mime == COMPOSITE_MIME

    def _route(self, metadata: bytes | None) -> str | None:
        if not self._composite or not metadata:
            return None
        try:
            parsed = CompositeMetadata().parse(bytes(metadata))
        except Exception as exc:
            raise RouteError(f"bad composite metadata: {exc}") from exc
        for item in parsed.items:
            if isinstance(item, RoutingMetadata) and item.tags:
                tag = item.tags[0]
                return tag.decode() if isinstance(tag, bytes) else str(tag)
        return None

    async def request_response(self, payload: Payload) -> asyncio.Future[Payload]:
        try:
            route = self._route(payload.metadata)
        except RouteError as exc:
            return _fail(str(exc))
        body = _text(payload.data)
        if route is None:
            action = body if body in ("error", "count", "pushcount") else "echo"
        elif route in ("echo", "count", "pushcount", "error"):
            action = route
        else:
            return _fail(f"no request-response handler for route '{route}'")
        if action == "error":
            # A plain exception becomes ERROR[APPLICATION_ERROR] with str(exc) as data.
            return _fail("boom")
        if action == "count":
            return _answer(Payload(str(self._fnf).encode()))
        if action == "pushcount":
            return _answer(Payload(str(self._pushes).encode()))
        return _answer(Payload(b"echo:" + bytes(payload.data or b""), payload.metadata))

    async def request_stream(self, payload: Payload) -> Publisher:
        route = self._route(payload.metadata)  # RouteError -> ERROR[APPLICATION_ERROR]
        if route is not None and route != "stream":
            raise RuntimeError(f"no request-stream handler for route '{route}'")
        body = _text(payload.data)
        if not body.isdigit() or len(body) > 9:
            raise RuntimeError(f"stream length must be a decimal integer, got {body[:32]!r}")
        return CountingStream(int(body))

    async def request_channel(self, payload: Payload) -> tuple[Publisher, Subscriber]:
        route = self._route(payload.metadata)
        if route is not None and route != "channel":
            raise RuntimeError(f"no request-channel handler for route '{route}'")
        # rsocket-py does not tell the handler whether REQUEST_CHANNEL carried C; it calls the
        # subscriber's on_complete() right after subscribing in that case.
        echo = EchoChannel(Payload(payload.data, payload.metadata), inbound_complete=False)
        return echo, echo

    async def request_fire_and_forget(self, payload: Payload) -> None:
        try:
            route = self._route(payload.metadata)
        except RouteError as exc:
            print(f"fire-and-forget ignored: {exc}", file=sys.stderr)
            return
        if route is not None and route != "fnf":
            print(f"fire-and-forget ignored: no handler for route '{route}'", file=sys.stderr)
            return
        self._fnf += 1

    async def on_metadata_push(self, payload: Payload) -> None:
        self._pushes += 1

    async def on_error(self, error_code: ErrorCode, payload: Payload) -> None:
        print(f"peer sent ERROR {error_code!r}: {_text(payload.data)}", file=sys.stderr)

    async def on_close(self, rsocket: Any, exception: Exception | None = None) -> None:
        self._live.discard(rsocket)


async def serve(port: int, reject_setup: bool) -> None:
    live: set[RSocketServer] = set()  # strong references to the per-connection engines

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server = RSocketServer(
            TransportTCP(reader, writer, read_buffer_size=READ_BUFFER),
            handler_factory=lambda: ConformanceHandler(reject_setup, live),
            fragment_size_bytes=FRAGMENT_SIZE,
        )
        live.add(server)

    tcp = await asyncio.start_server(on_connect, "127.0.0.1", port)
    real_port = tcp.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {real_port}", flush=True)
    async with tcp:
        await stop.wait()
        for server in list(live):
            try:
                async with asyncio.timeout(2):
                    await server.close()
            except Exception as exc:
                print(f"closing a connection failed: {exc!r}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reject-setup", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.reject_setup))


if __name__ == "__main__":
    main()
