"""rsocket-py (PyPI ``rsocket`` 0.4.20), given its best case.

Its own TCP transport with 64 KiB reads (its default is 1 KiB), TCP_NODELAY, the same
keepalive as aiorsocket's default (20 s, not its 500 ms), and streams and channels written as
plain reactive-streams Publishers/Subscribers driven by request(n): its cheapest API, with
no per-item task or queue (its ``StreamFromAsyncGenerator`` helper has both).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from reactivestreams.publisher import Publisher
from reactivestreams.subscriber import Subscriber
from reactivestreams.subscription import Subscription
from rsocket.helpers import single_transport_provider
from rsocket.payload import Payload
from rsocket.request_handler import BaseRequestHandler
from rsocket.rsocket_client import RSocketClient
from rsocket.rsocket_server import RSocketServer
from rsocket.transports.tcp import TransportTCP

from common import (
    COUNT_QUERY,
    LOW_TIDE,
    WINDOW,
    BenchError,
    parse_stream_spec,
    pattern,
    stream_spec,
    tcp_nodelay,
)

READ_BUFFER = 64 * 1024
KEEPALIVE = timedelta(seconds=20)
LIFETIME = timedelta(seconds=90)
MIME = "application/octet-stream"


def _done(value: Payload) -> asyncio.Future[Payload]:
    future: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


class _Items(Publisher, Subscription):  # type: ignore[misc]
    """``count`` items, never more than requested; C rides on the last one."""

    def __init__(self, count: int, item: bytes) -> None:
        self._left = count
        self._item = item
        self._cancelled = False
        self._subscriber: Subscriber | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber
        subscriber.on_subscribe(self)

    def request(self, n: int) -> None:
        subscriber = self._subscriber
        assert subscriber is not None
        while n > 0 and self._left > 0 and not self._cancelled:
            n -= 1
            self._left -= 1
            subscriber.on_next(Payload(self._item), is_complete=self._left == 0)

    def cancel(self) -> None:
        self._cancelled = True


class _Echo(Publisher, Subscription, Subscriber):  # type: ignore[misc]
    """Echoes the channel's inbound items; asks for more inbound only as echoes are requested."""

    def __init__(self, first: Payload) -> None:
        self._held = [Payload(first.data)]
        self._credit = 0
        self._first_grant = True
        self._inbound_done = False
        self._outbound_done = False
        self._out: Subscriber | None = None
        self._inbound: Subscription | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._out = subscriber
        subscriber.on_subscribe(self)

    def request(self, n: int) -> None:
        self._credit += n
        # The first item came with REQUEST_CHANNEL, without credit.
        ask = n - 1 if self._first_grant else n
        self._first_grant = False
        if ask > 0 and not self._inbound_done and self._inbound is not None:
            self._inbound.request(ask)
        self._flush()

    def cancel(self) -> None:
        self._outbound_done = True

    def on_subscribe(self, subscription: Subscription) -> None:
        self._inbound = subscription

    def on_next(self, value: Payload, is_complete: bool = False) -> None:
        self._held.append(Payload(value.data))
        self._inbound_done = is_complete
        self._flush()

    def on_error(self, exception: Exception) -> None:
        self._outbound_done = True

    def on_complete(self) -> None:
        self._inbound_done = True
        self._flush()

    def _flush(self) -> None:
        out = self._out
        if out is None:
            return
        while not self._outbound_done and self._credit > 0 and self._held:
            self._credit -= 1
            item = self._held.pop(0)
            last = self._inbound_done and not self._held
            self._outbound_done = last
            out.on_next(item, is_complete=last)
        if not self._outbound_done and self._inbound_done and not self._held:
            self._outbound_done = True
            out.on_complete()


class BenchHandler(BaseRequestHandler):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.fnf_count = 0

    async def request_response(self, payload: Payload) -> asyncio.Future[Payload]:
        if payload.data == COUNT_QUERY:
            return _done(Payload(str(self.fnf_count).encode()))
        return _done(Payload(payload.data))

    async def request_fire_and_forget(self, payload: Payload) -> None:
        self.fnf_count += 1

    async def request_stream(self, payload: Payload) -> Publisher:
        count, size = parse_stream_spec(payload.data)
        return _Items(count, pattern(size))

    async def request_channel(self, payload: Payload) -> tuple[Publisher, Subscriber]:
        echo = _Echo(payload)
        return echo, echo


async def start_server() -> tuple[int, Callable[[], Awaitable[None]]]:
    live: set[RSocketServer] = set()  # rsocket-py keeps no strong reference to its servers

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tcp_nodelay(writer.transport)
        live.add(
            RSocketServer(
                TransportTCP(reader, writer, read_buffer_size=READ_BUFFER),
                handler_factory=BenchHandler,
                keep_alive_period=KEEPALIVE,
                max_lifetime_period=LIFETIME,
            )
        )

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)

    async def close() -> None:
        server.close()
        for rsocket in live:
            try:
                async with asyncio.timeout(2):
                    await rsocket.close()
            except Exception as exc:  # shutdown only: one stuck connection must not hang the run
                print(f"rsocket-py server close failed: {exc!r}")

    return server.sockets[0].getsockname()[1], close


class _Collect(Subscriber):  # type: ignore[misc]
    """Counts items, granting again what was consumed once LOW_TIDE of the window is used."""

    def __init__(self) -> None:
        self.items = 0
        self.nbytes = 0
        self._consumed = 0
        self._subscription: Subscription | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_subscribe(self, subscription: Subscription) -> None:
        self._subscription = subscription

    def on_next(self, value: Payload, is_complete: bool = False) -> None:
        self.items += 1
        self.nbytes += len(value.data)
        if is_complete:
            self.on_complete()
            return
        self._consumed += 1
        if self._consumed >= LOW_TIDE and self._subscription is not None:
            self._subscription.request(self._consumed)
            self._consumed = 0

    def on_error(self, exception: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(BenchError(f"rsocket-py stream failed: {exception!r}"))

    def on_complete(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class _Send(Publisher, Subscription):  # type: ignore[misc]
    """The channel's outbound items, sent only as the responder requests them."""

    def __init__(self, count: int, data: bytes) -> None:
        self._left = count
        self._data = data
        self._subscriber: Subscriber | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber
        subscriber.on_subscribe(self)

    def request(self, n: int) -> None:
        subscriber = self._subscriber
        assert subscriber is not None
        while n > 0 and self._left > 0:
            n -= 1
            self._left -= 1
            subscriber.on_next(Payload(self._data), is_complete=self._left == 0)

    def cancel(self) -> None:
        self._left = 0


class RsocketPyClient:
    def __init__(self, client: RSocketClient) -> None:
        self._client = client

    async def rr(self, data: bytes) -> bytes:
        reply = await self._client.request_response(Payload(data))
        return bytes(reply.data)

    async def fnf(self, data: bytes) -> None:
        await self._client.fire_and_forget(Payload(data))

    async def stream(self, count: int, size: int) -> tuple[int, int]:
        collect = _Collect()
        requester: Any = self._client.request_stream(Payload(stream_spec(count, size)))
        requester.initial_request_n(WINDOW).subscribe(collect)
        await collect.done
        return collect.items, collect.nbytes

    async def channel(self, count: int, data: bytes) -> tuple[int, int]:
        collect = _Collect()
        # The first item travels in REQUEST_CHANNEL itself.
        outbound = _Send(count - 1, data) if count > 1 else None
        requester: Any = self._client.request_channel(Payload(data), outbound)
        requester.initial_request_n(WINDOW).subscribe(collect)
        await collect.done
        return collect.items, collect.nbytes

    async def close(self) -> None:
        async with asyncio.timeout(5):
            await self._client.close()


async def connect(port: int) -> RsocketPyClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    tcp_nodelay(writer.transport)
    client = RSocketClient(
        single_transport_provider(TransportTCP(reader, writer, read_buffer_size=READ_BUFFER)),
        data_encoding=MIME,
        metadata_encoding=MIME,
        keep_alive_period=KEEPALIVE,
        max_lifetime_period=LIFETIME,
    )
    await client.connect()
    return RsocketPyClient(client)
