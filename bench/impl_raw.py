"""The raw-asyncio ceiling: the least a protocol with the same shapes needs, and nothing else.

Frames are ``u32 (body length << 8 | type), u32 stream id, body``.  Streams and channels have
credit-based flow control with the same window as the others (:data:`common.WINDOW`); there is
no setup, keepalive, fragmentation, error handling, metadata or validation.  Both sides use
an :class:`asyncio.Protocol`; the server answers inline from ``data_received`` (no task per
request) and writes once per read, the client writes once per loop pass.  The client offers
the same API shape as aiorsocket (awaitable request/response, streams consumed with
``async for``), so the gap to it is the cost of RSocket and of the library, not of the API.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from typing import cast

from common import COUNT_QUERY, LOW_TIDE, WINDOW, parse_stream_spec, pattern, stream_spec, tcp_nodelay

_HEADER = struct.Struct(">II")
_N = struct.Struct(">I")

RR, RESPONSE, FNF, STREAM, CHANNEL, ITEM, LAST, CREDIT = range(1, 9)


def _frame(kind: int, stream_id: int, body: bytes = b"") -> bytes:
    return _HEADER.pack((len(body) << 8) | kind, stream_id) + body


class _Framing(asyncio.Protocol):
    """Splits reads into frames; queued frames leave in one write."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        # The start of a frame cut by the end of a read; only that frame is ever copied.
        self._pending = bytearray()
        self._out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        tcp_nodelay(transport)

    def data_received(self, data: bytes) -> None:
        offset = self._finish_pending(data) if self._pending else 0
        if offset < 0:
            return
        unpack = _HEADER.unpack_from
        size = len(data)
        while size - offset >= 8:
            word, stream_id = unpack(data, offset)
            start = offset + 8
            end = start + (word >> 8)
            if end > size:
                break
            self.frame_received(word & 0xFF, stream_id, data[start:end])
            offset = end
        if offset < size:
            self._pending += data[offset:]

    def _finish_pending(self, data: bytes) -> int:
        """Complete the cut frame from the head of ``data``: where the rest starts, or -1."""
        pending = self._pending
        used = 0
        if len(pending) < 8:
            used = min(8 - len(pending), len(data))
            pending += data[:used]
            if len(pending) < 8:
                return -1
        word, stream_id = _HEADER.unpack_from(pending)
        missing = 8 + int(word >> 8) - len(pending)
        if len(data) - used < missing:
            pending += data[used:]
            return -1
        pending += data[used : used + missing]
        self._pending = bytearray()
        self.frame_received(word & 0xFF, stream_id, bytes(pending[8:]))
        return used + missing

    def frame_received(self, kind: int, stream_id: int, body: bytes) -> None:
        raise NotImplementedError

    def _write_out(self) -> None:
        out, self._out = self._out, []
        if out and self._transport is not None:
            self._transport.write(b"".join(out))


# --- server --------------------------------------------------------------------------------


class _Producer:
    __slots__ = ("credit", "item", "left", "stream_id")

    def __init__(self, stream_id: int, left: int, item: bytes, credit: int) -> None:
        self.stream_id = stream_id
        self.left = left
        self.item = item
        self.credit = credit


class _Echo:
    __slots__ = ("consumed", "credit", "held", "stream_id")

    def __init__(self, stream_id: int, credit: int) -> None:
        self.stream_id = stream_id
        self.credit = credit
        self.held: deque[tuple[int, bytes]] = deque()
        self.consumed = 0


class RawServer(_Framing):
    def __init__(self) -> None:
        super().__init__()
        self.fnf_count = 0
        self._producers: dict[int, _Producer] = {}
        self._echoes: dict[int, _Echo] = {}

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._write_out()

    def frame_received(self, kind: int, stream_id: int, body: bytes) -> None:
        out = self._out
        if kind == RR:
            reply = str(self.fnf_count).encode() if body == COUNT_QUERY else body
            out.append(_frame(RESPONSE, stream_id, reply))
        elif kind == FNF:
            self.fnf_count += 1
        elif kind in (ITEM, LAST):
            echo = self._echoes[stream_id]
            echo.held.append((kind, body))
            self._echo(echo)
        elif kind == CREDIT:
            (n,) = _N.unpack(body)
            producer = self._producers.get(stream_id)
            if producer is not None:
                producer.credit += n
                self._produce(producer)
            elif (waiting := self._echoes.get(stream_id)) is not None:
                waiting.credit += n
                self._echo(waiting)
        elif kind == STREAM:
            (credit,) = _N.unpack_from(body)
            count, size = parse_stream_spec(body[4:])
            producer = self._producers[stream_id] = _Producer(stream_id, count, pattern(size), credit)
            self._produce(producer)
        elif kind == CHANNEL:
            (credit,) = _N.unpack(body)
            self._echoes[stream_id] = _Echo(stream_id, credit)
            out.append(_frame(CREDIT, stream_id, _N.pack(WINDOW)))

    def _produce(self, producer: _Producer) -> None:
        n = min(producer.credit, producer.left)
        producer.credit -= n
        producer.left -= n
        stream_id, item = producer.stream_id, producer.item
        append = self._out.append
        for _ in range(n):
            append(_frame(ITEM, stream_id, item))
        if producer.left == 0:
            # The last item goes out as LAST instead of ITEM.
            self._out[-1] = _frame(LAST, stream_id, item)
            del self._producers[stream_id]

    def _echo(self, echo: _Echo) -> None:
        append = self._out.append
        held = echo.held
        while echo.credit and held:
            kind, body = held.popleft()
            echo.credit -= 1
            echo.consumed += 1
            append(_frame(kind, echo.stream_id, body))
            if kind == LAST:
                del self._echoes[echo.stream_id]
                return
        if echo.consumed >= LOW_TIDE:
            append(_frame(CREDIT, echo.stream_id, _N.pack(echo.consumed)))
            echo.consumed = 0


async def start_server() -> tuple[int, Callable[[], Awaitable[None]]]:
    server = await asyncio.get_running_loop().create_server(RawServer, "127.0.0.1", 0)

    async def close() -> None:
        server.close()
        await server.wait_closed()

    return server.sockets[0].getsockname()[1], close


# --- client --------------------------------------------------------------------------------


class _Inbound:
    """One stream's items for ``async for``; credit goes back as the consumer takes them."""

    __slots__ = ("_client", "_consumed", "_items", "_waiter", "done", "stream_id")

    def __init__(self, client: RawClient, stream_id: int) -> None:
        self._client = client
        self.stream_id = stream_id
        self._items: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._consumed = 0
        self.done = False

    def push(self, item: bytes, last: bool) -> None:
        self._items.append(item)
        self.done = last
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> _Inbound:
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._items:
                self._consumed += 1
                if self._consumed >= LOW_TIDE and not self.done:
                    self._client.send(_frame(CREDIT, self.stream_id, _N.pack(self._consumed)))
                    self._consumed = 0
                return self._items.popleft()
            if self.done:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None


class _Credit:
    __slots__ = ("n", "waiter")

    def __init__(self) -> None:
        self.n = 0
        self.waiter: asyncio.Future[None] | None = None

    def grant(self, n: int) -> None:
        self.n += n
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class RawClient(_Framing):
    def __init__(self) -> None:
        super().__init__()
        self._loop = asyncio.get_running_loop()
        self._next_id = 1
        self._flush_scheduled = False
        self._calls: dict[int, asyncio.Future[bytes]] = {}
        self._inbound: dict[int, _Inbound] = {}
        self._credits: dict[int, _Credit] = {}

    def frame_received(self, kind: int, stream_id: int, body: bytes) -> None:
        if kind == RESPONSE:
            self._calls.pop(stream_id).set_result(body)
        elif kind == ITEM:
            self._inbound[stream_id].push(body, False)
        elif kind == LAST:
            self._inbound.pop(stream_id).push(body, True)
        elif kind == CREDIT:
            self._credits[stream_id].grant(_N.unpack(body)[0])

    def send(self, frame: bytes) -> None:
        self._out.append(frame)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._write_out()

    def _stream_id(self) -> int:
        stream_id = self._next_id
        self._next_id += 2
        return stream_id

    async def rr(self, data: bytes) -> bytes:
        stream_id = self._stream_id()
        future: asyncio.Future[bytes] = self._loop.create_future()
        self._calls[stream_id] = future
        self.send(_frame(RR, stream_id, data))
        return await future

    async def fnf(self, data: bytes) -> None:
        self.send(_frame(FNF, self._stream_id(), data))

    async def stream(self, count: int, size: int) -> tuple[int, int]:
        stream_id = self._stream_id()
        inbound = self._inbound[stream_id] = _Inbound(self, stream_id)
        self.send(_frame(STREAM, stream_id, _N.pack(WINDOW) + stream_spec(count, size)))
        items = nbytes = 0
        async for item in inbound:
            items += 1
            nbytes += len(item)
        return items, nbytes

    async def channel(self, count: int, data: bytes) -> tuple[int, int]:
        stream_id = self._stream_id()
        inbound = self._inbound[stream_id] = _Inbound(self, stream_id)
        credit = self._credits[stream_id] = _Credit()
        self.send(_frame(CHANNEL, stream_id, _N.pack(WINDOW)))
        pump = asyncio.ensure_future(self._pump(stream_id, credit, count, data))
        items = nbytes = 0
        async for item in inbound:
            items += 1
            nbytes += len(item)
        await pump
        del self._credits[stream_id]
        return items, nbytes

    async def _pump(self, stream_id: int, credit: _Credit, count: int, data: bytes) -> None:
        last = count - 1
        for index in range(count):
            while not credit.n:
                credit.waiter = self._loop.create_future()
                await credit.waiter
                credit.waiter = None
            credit.n -= 1
            self.send(_frame(LAST if index == last else ITEM, stream_id, data))

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def connect(port: int) -> RawClient:
    _, client = await asyncio.get_running_loop().create_connection(RawClient, "127.0.0.1", port)
    return client
