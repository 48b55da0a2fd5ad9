"""rsocket-py (PyPI ``rsocket`` 0.4.20) scenario runner over TCP.

    python tests/interop/peers/rsocket_py/client.py --port P --scenario NAME [--route-mode] [--timeout-ms MS]

Runs one scenario against 127.0.0.1:P and prints one JSON line (``{"ok": true, ...}`` or
``{"ok": false, "error": ..., "code": ...}``). Exit code 0 whenever the scenario ran, 2 on a usage
error. The scenarios match tests/interop/peers/common.js (the rsocket-js runners) exactly.

Two adaptations to rsocket-py, both visible in the code below:
* rsocket-py turns ERROR[APPLICATION_ERROR] into a bare ``RuntimeError`` (the code is lost), so
  the requester modules' ``error_frame_to_exception`` is replaced by one that keeps the wire code.
* KEEPALIVE answers are counted by overriding ``RSocketClient.handle_keep_alive``.
Outbound payloads are fragmented at 64 KiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import rsocket.handlers.request_cahnnel_common as _channel_common
import rsocket.handlers.request_response_requester as _rr_requester
import rsocket.handlers.request_stream_requester as _stream_requester
from reactivestreams.publisher import Publisher
from reactivestreams.subscriber import Subscriber
from reactivestreams.subscription import Subscription
from rsocket.error_codes import ErrorCode
from rsocket.extensions.helpers import composite, route
from rsocket.frame import ErrorFrame, KeepAliveFrame
from rsocket.helpers import single_transport_provider
from rsocket.payload import Payload
from rsocket.request_handler import BaseRequestHandler
from rsocket.rsocket_client import RSocketClient
from rsocket.transports.tcp import TransportTCP

COMPOSITE_MIME = "message/x.rsocket.composite-metadata.v0"
PLAIN_MIME = "application/octet-stream"
FRAGMENT_SIZE = 65536
READ_BUFFER = 65536
LARGE_SIZE = 1 << 20
APPLICATION_ERROR = 0x201
REJECTED_SETUP = 0x003
CONNECTION_ERROR = 0x101
SCENARIOS = (
    "rr",
    "stream",
    "stream_cancel",
    "channel",
    "fnf_count",
    "metadata_push",
    "error",
    "large",
    "concurrent",
    "keepalive",
    "reject_setup",
)

T = TypeVar("T")


class PeerError(Exception):
    """An ERROR frame as seen on the wire."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error_frame_to_exception(frame: ErrorFrame) -> Exception:
    data = frame.data or b""
    return PeerError(int(frame.error_code), bytes(data).decode("utf-8", "replace"))


for _module in (_rr_requester, _stream_requester, _channel_common):
    _module.error_frame_to_exception = _error_frame_to_exception


class CountingClient(RSocketClient):  # type: ignore[misc]
    """RSocketClient that counts KEEPALIVE frames without R (answers to ours)."""

    keepalive_acks = 0

    async def handle_keep_alive(self, frame: KeepAliveFrame) -> None:
        if not frame.flags_respond:
            self.keepalive_acks += 1
        await super().handle_keep_alive(frame)


class ClientHandler(BaseRequestHandler):  # type: ignore[misc]
    """Records connection-level ERROR frames and the connection closing."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.connection_error: asyncio.Future[PeerError] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    async def on_error(self, error_code: ErrorCode, payload: Payload) -> None:
        if not self.connection_error.done():
            data = payload.data or b""
            self.connection_error.set_result(
                PeerError(int(error_code), bytes(data).decode("utf-8", "replace"))
            )

    async def on_close(self, rsocket: Any, exception: Exception | None = None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class Timeout(Exception):
    """A bounded wait in a scenario ran out."""


async def bounded(awaitable: Awaitable[T], seconds: float, label: str) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError as exc:
        raise Timeout(f"timeout after {seconds:g} s: {label}") from exc


def _text(value: bytes | None) -> str | None:
    return None if value is None else bytes(value).decode("utf-8", "replace")


def large_pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


class Connection:
    def __init__(self, client: CountingClient, handler: ClientHandler, route_mode: bool) -> None:
        self.client = client
        self.handler = handler
        self.route_mode = route_mode

    def md(self, route_name: str, plain: bytes | None) -> bytes | None:
        return composite(route(route_name)) if self.route_mode else plain

    async def rr(self, data: bytes, route_name: str, limit: float, plain_md: bytes | None = None) -> Payload:
        payload = Payload(data, self.md(route_name, plain_md))
        return await bounded(self.client.request_response(payload), limit, f"rr {route_name}")

    async def close(self) -> None:
        try:
            await bounded(self.client.close(), 5, "close")
        except Exception as exc:
            print(f"close failed: {exc!r}", file=sys.stderr)


async def connect(port: int, route_mode: bool, keepalive_ms: int, lifetime_ms: int) -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    handler = ClientHandler()
    client = CountingClient(
        single_transport_provider(TransportTCP(reader, writer, read_buffer_size=READ_BUFFER)),
        handler_factory=lambda: handler,
        data_encoding=PLAIN_MIME,
        metadata_encoding=COMPOSITE_MIME if route_mode else PLAIN_MIME,
        keep_alive_period=timedelta(milliseconds=keepalive_ms),
        max_lifetime_period=timedelta(milliseconds=lifetime_ms),
        fragment_size_bytes=FRAGMENT_SIZE,
    )
    await client.connect()
    return Connection(client, handler, route_mode)


class BatchSubscriber(Subscriber):  # type: ignore[misc]
    """Requests ``batch`` items at a time, the next batch only once the last has arrived, so
    never more than ``batch`` are in flight; with ``take``, cancels after that many."""

    def __init__(self, batch: int, take: int | None = None) -> None:
        self.batch = batch
        self.take = take
        self.items: list[str | None] = []
        self.after_terminal: list[str | None] = []
        self.outstanding = batch  # the initial request-n travels in REQUEST_STREAM/CHANNEL
        self.requested = batch
        self.request_frames = 1
        self.violations = 0
        self.completed = False
        self.cancelled = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.subscription: Subscription | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        self.subscription = subscription

    def on_next(self, value: Payload, is_complete: bool = False) -> None:
        if self.done.done():
            self.after_terminal.append(_text(value.data))
            return
        self.items.append(_text(value.data))
        if self.outstanding <= 0:
            self.violations += 1
        self.outstanding -= 1
        if is_complete:
            self.on_complete()
            return
        assert self.subscription is not None
        if self.take is not None and len(self.items) >= self.take:
            self.cancelled = True
            self.subscription.cancel()
            self.done.set_result(None)
            return
        if self.outstanding == 0:
            n = self.batch if self.take is None else min(self.batch, self.take - len(self.items))
            self.outstanding += n
            self.requested += n
            self.request_frames += 1
            self.subscription.request(n)

    def on_error(self, exception: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exception)

    def on_complete(self) -> None:
        self.completed = True
        if not self.done.done():
            self.done.set_result(None)


class ListPublisher(Publisher, Subscription):  # type: ignore[misc]
    """Emits the given payloads only as the responder requests them; C on the last one."""

    def __init__(self, payloads: list[Payload]) -> None:
        self._payloads = payloads
        self._next = 0
        self._cancelled = False
        self._subscriber: Subscriber | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber
        subscriber.on_subscribe(self)

    def request(self, n: int) -> None:
        subscriber = self._subscriber
        budget = n
        while (
            subscriber is not None and not self._cancelled and budget > 0 and self._next < len(self._payloads)
        ):
            budget -= 1
            last = self._next == len(self._payloads) - 1
            subscriber.on_next(self._payloads[self._next], is_complete=last)
            self._next += 1
        if subscriber is not None and not self._payloads:
            subscriber.on_complete()

    def cancel(self) -> None:
        self._cancelled = True


def fail(error: str, code: int | None = None, **details: Any) -> dict[str, Any]:
    return {"ok": False, "error": error, "code": code, **details}


async def scenario_reject_setup(port: int, route_mode: bool, limit: float) -> dict[str, Any]:
    conn = await bounded(connect(port, route_mode, 1000, 10000), limit, "connect")
    rr_task = asyncio.create_task(conn.rr(b"hello", "echo", min(limit, 5)))
    try:
        seen = await bounded(
            asyncio.shield(conn.handler.connection_error), min(limit, 5), "ERROR after SETUP"
        )
    except Timeout as exc:
        rr_task.cancel()
        await conn.close()
        return fail(str(exc))
    try:
        await bounded(asyncio.shield(conn.handler.closed), 1.5, "server closing the connection")
        closed = True
    except Timeout:
        closed = False
    if rr_task.done() and not rr_task.cancelled():
        rr_exc = rr_task.exception()
        if rr_exc is None:
            rr_outcome = f"answered: {_text(rr_task.result().data)}"
        else:
            rr_outcome = f"error {getattr(rr_exc, 'code', None)}: {rr_exc}"
    else:
        rr_outcome = "pending"  # rsocket-py does not fail requests when the connection ends
    rr_task.cancel()
    await conn.close()
    out: dict[str, Any] = {
        "ok": seen.code == REJECTED_SETUP,
        "code": seen.code,
        "message": seen.message,
        "connection_ended": closed,
        "rr_outcome": rr_outcome,
    }
    if not out["ok"]:
        out["error"] = f"expected REJECTED_SETUP (3), got {seen.code}: {seen.message}"
    return out


async def run_scenario(name: str, port: int, route_mode: bool, limit: float) -> dict[str, Any]:
    if name == "reject_setup":
        return await scenario_reject_setup(port, route_mode, limit)
    keepalive, lifetime = (200, 2000) if name == "keepalive" else (5000, 30000)
    conn = await bounded(connect(port, route_mode, keepalive, lifetime), limit, "connect")
    try:
        return await SCENARIO_FUNCS[name](conn, limit)
    except PeerError as exc:
        if conn.handler.closed.done() and exc.code == CONNECTION_ERROR and not exc.message:
            # Not from the wire: when the transport closes, rsocket-py fails every pending request
            # with an ErrorFrame it makes itself (stream_control.stop_all_streams).
            return fail("connection closed by the server (rsocket-py failed the pending request locally)")
        raise
    finally:
        await conn.close()


async def sc_rr(conn: Connection, limit: float) -> dict[str, Any]:
    meta = conn.md("echo", b"meta")
    r = await bounded(conn.client.request_response(Payload(b"hello", meta)), limit, "rr")
    data = _text(r.data)
    got_md = bytes(r.metadata) if r.metadata is not None else None
    echoed = (got_md or b"") == (meta or b"")
    shown = (
        None if got_md is None else (got_md.hex() if conn.route_mode else got_md.decode("utf-8", "replace"))
    )
    out: dict[str, Any] = {
        "ok": data == "echo:hello" and echoed,
        "data": data,
        "metadata": shown,
        "metadata_echoed": echoed,
    }
    if not out["ok"]:
        out.update(
            error=f"expected data 'echo:hello' and metadata echoed, got {data!r}, {shown!r}", code=None
        )
    return out


async def pull_stream(
    conn: Connection, body: bytes, batch: int, take: int | None, limit: float
) -> BatchSubscriber:
    sub = BatchSubscriber(batch, take)
    conn.client.request_stream(Payload(body, conn.md("stream", None))).initial_request_n(batch).subscribe(sub)
    await bounded(asyncio.shield(sub.done), limit, "request-stream")
    return sub


async def sc_stream(conn: Connection, limit: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    sub = await pull_stream(conn, b"100", 10, None, limit)
    elapsed_ms = round((loop.time() - started) * 1000)
    expected = [str(i) for i in range(100)]
    ok = sub.completed and sub.violations == 0 and sub.items == expected
    out: dict[str, Any] = {
        "ok": ok,
        "items": sub.items,
        "count": len(sub.items),
        "request_n_batches": sub.request_frames,
        "credit_violations": sub.violations,
        "elapsed_ms": elapsed_ms,
    }
    if not ok:
        out.update(error=f"expected 100 items in batches of 10, completed={sub.completed}", code=None)
    return out


async def sc_stream_cancel(conn: Connection, limit: float) -> dict[str, Any]:
    sub = await pull_stream(conn, b"1000", 5, 25, limit)
    after = _text((await conn.rr(b"after", "echo", limit)).data)
    expected = [str(i) for i in range(25)]
    ok = sub.cancelled and sub.violations == 0 and sub.items == expected and after == "echo:after"
    out: dict[str, Any] = {
        "ok": ok,
        "items": sub.items,
        "requested": sub.requested,
        "credit_violations": sub.violations,
        "items_after_cancel": len(sub.after_terminal),
        "after": after,
    }
    if not ok:
        out.update(
            error=f"expected items 0..24, cancel, then 'echo:after'; got {len(sub.items)}, {after!r}",
            code=None,
        )
    return out


async def sc_channel(conn: Connection, limit: float) -> dict[str, Any]:
    payloads = [Payload(f"c{i}".encode(), conn.md("channel", None) if i == 0 else None) for i in range(50)]
    sub = BatchSubscriber(10)
    publisher = ListPublisher(payloads[1:])
    conn.client.request_channel(payloads[0], publisher).initial_request_n(10).subscribe(sub)
    await bounded(asyncio.shield(sub.done), limit, "request-channel")
    expected = [f"c{i}" for i in range(50)]
    ok = sub.violations == 0 and sub.items == expected and sub.completed
    out: dict[str, Any] = {
        "ok": ok,
        "echoes": sub.items,
        "count": len(sub.items),
        "credit_violations": sub.violations,
    }
    if not ok:
        out.update(error=f"expected the 50 payloads echoed in order, got {len(sub.items)}", code=None)
    return out


async def sc_fnf_count(conn: Connection, limit: float) -> dict[str, Any]:
    for i in range(3):
        await bounded(
            conn.client.fire_and_forget(Payload(f"f{i}".encode(), conn.md("fnf", None))), limit, "fnf"
        )
    count = _text((await conn.rr(b"count", "count", limit)).data)
    return (
        {"ok": True, "count": count}
        if count == "3"
        else fail(f"expected count '3', got {count!r}", count=count)
    )


async def sc_metadata_push(conn: Connection, limit: float) -> dict[str, Any]:
    for i in range(2):
        pushed = composite(route("push")) if conn.route_mode else f"push{i}".encode()
        await bounded(conn.client.metadata_push(pushed), limit, "metadata push")
    count = _text((await conn.rr(b"pushcount", "pushcount", limit)).data)
    return (
        {"ok": True, "count": count}
        if count == "2"
        else fail(f"expected pushcount '2', got {count!r}", count=count)
    )


async def sc_error(conn: Connection, limit: float) -> dict[str, Any]:
    try:
        r = await conn.rr(b"error", "error", limit)
    except PeerError as exc:
        ok = exc.code == APPLICATION_ERROR and exc.message == "boom"
        out: dict[str, Any] = {"ok": ok, "code": exc.code, "message": exc.message}
        if not ok:
            out["error"] = f"expected APPLICATION_ERROR (0x201) 'boom', got {exc.code}: {exc.message}"
        return out
    return fail(f"expected an ERROR frame, got payload {_text(r.data)!r}")


async def sc_large(conn: Connection, limit: float) -> dict[str, Any]:
    data = large_pattern(LARGE_SIZE)
    loop = asyncio.get_running_loop()
    started = loop.time()
    r = await conn.rr(data, "echo", limit)
    got = bytes(r.data or b"")
    ok = got == b"echo:" + data
    out: dict[str, Any] = {
        "ok": ok,
        "sent_bytes": len(data),
        "received_bytes": len(got),
        "elapsed_ms": round((loop.time() - started) * 1000),
    }
    if not ok:
        out.update(error=f"1 MiB echo mismatch (received {len(got)} bytes)", code=None)
    return out


async def sc_concurrent(conn: Connection, limit: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await bounded(
        asyncio.gather(
            *(
                conn.client.request_response(Payload(f"c{i}".encode(), conn.md("echo", None)))
                for i in range(200)
            )
        ),
        limit,
        "200 concurrent rr",
    )
    wrong = sum(1 for i, r in enumerate(results) if _text(r.data) != f"echo:c{i}")
    out: dict[str, Any] = {
        "ok": wrong == 0,
        "answered": len(results),
        "wrong": wrong,
        "elapsed_ms": round((loop.time() - started) * 1000),
    }
    if wrong:
        out.update(error=f"{wrong} of 200 answers were wrong", code=None)
    return out


async def sc_keepalive(conn: Connection, limit: float) -> dict[str, Any]:
    # Idle on purpose: >= 3 keepalive intervals (200 ms) pass with no request traffic.
    await asyncio.sleep(1.0)
    acks = conn.client.keepalive_acks
    after = _text((await conn.rr(b"alive", "echo", limit)).data)
    ok = after == "echo:alive" and acks >= 3
    out: dict[str, Any] = {"ok": ok, "keepalive_acks": acks, "after": after}
    if not ok:
        out.update(
            error=f"expected >= 3 KEEPALIVE acks and 'echo:alive', got {acks} and {after!r}", code=None
        )
    return out


SCENARIO_FUNCS: dict[str, Callable[[Connection, float], Awaitable[dict[str, Any]]]] = {
    "rr": sc_rr,
    "stream": sc_stream,
    "stream_cancel": sc_stream_cancel,
    "channel": sc_channel,
    "fnf_count": sc_fnf_count,
    "metadata_push": sc_metadata_push,
    "error": sc_error,
    "large": sc_large,
    "concurrent": sc_concurrent,
    "keepalive": sc_keepalive,
}


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    try:
        return await run_scenario(args.scenario, args.port, args.route_mode, args.timeout_ms / 1000)
    except PeerError as exc:
        return fail(f"PeerError: {exc.message}", exc.code)
    except Exception as exc:
        return fail(
            f"{type(exc).__name__}: {exc}",
            getattr(exc, "code", None) if isinstance(getattr(exc, "code", None), int) else None,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="rsocket-py interop scenario runner")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", choices=SCENARIOS, required=True)
    parser.add_argument("--route-mode", action="store_true")
    parser.add_argument("--timeout-ms", type=int, default=30000)
    args = parser.parse_args()
    result = asyncio.run(amain(args))
    print(
        json.dumps(
            {"peer": "rsocket_py", "scenario": args.scenario, "route_mode": args.route_mode, **result}
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
