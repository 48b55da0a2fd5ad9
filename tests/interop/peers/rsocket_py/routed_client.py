"""rsocket-py 0.4.20's routing client calling a routed (Spring @MessageMapping-style) server.

    python tests/interop/peers/rsocket_py/routed_client.py --port P --scenario NAME

Uses rsocket-py as its users do for Spring servers: composite metadata built with
``rsocket.extensions.helpers`` (``route``, ``authenticate_simple``, ``authenticate_bearer``,
``data_mime_type``, ``data_mime_types``), JSON data, and a ``RequestRouter`` answering the
server's calls back to route ``client.name``.

Scenarios (the server side and the expectations are in tests/interop/test_interop_app.py):
  composite     SETUP with route connect.py and simple auth alice/secret; every interaction model,
                per-request bearer auth, the error cases, the server's callback.
  bearer_setup  SETUP with a bearer token; a route needing the admin role.
  bad_setup     SETUP with a wrong password; the ERROR it gets.
  mime          a CBOR request (per-stream mime-type entry) accepting only JSON back.

Prints one JSON line: {"ok": true, "results": {...}} (each result {"value": ...} or
{"error": {"code": N, "message": "..."}}), or {"ok": false, "error": "..."}.

rsocket-py turns ERROR frames into exceptions without their code, so the requester modules'
``error_frame_to_exception`` is replaced by one that keeps it (as in client.py next to this file).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import cbor2
import rsocket.handlers.request_cahnnel_common as _channel_common
import rsocket.handlers.request_response_requester as _rr_requester
import rsocket.handlers.request_stream_requester as _stream_requester
from reactivestreams.publisher import Publisher
from reactivestreams.subscriber import Subscriber
from reactivestreams.subscription import Subscription
from rsocket.awaitable.awaitable_rsocket import AwaitableRSocket
from rsocket.error_codes import ErrorCode
from rsocket.extensions.helpers import (
    authenticate_bearer,
    authenticate_simple,
    composite,
    data_mime_type,
    data_mime_types,
    route,
)
from rsocket.extensions.mimetypes import WellKnownMimeTypes
from rsocket.frame import ErrorFrame
from rsocket.helpers import create_future, single_transport_provider
from rsocket.payload import Payload
from rsocket.request_handler import BaseRequestHandler
from rsocket.routing.request_router import RequestRouter
from rsocket.routing.routing_request_handler import RoutingRequestHandler
from rsocket.rsocket_client import RSocketClient
from rsocket.transports.tcp import TransportTCP

STEP_TIMEOUT = 10.0


class PeerError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error_frame_to_exception(frame: ErrorFrame) -> Exception:
    return PeerError(int(frame.error_code), bytes(frame.data or b"").decode("utf-8", "replace"))


for _module in (_rr_requester, _stream_requester, _channel_common):
    _module.error_frame_to_exception = _error_frame_to_exception


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def loads(data: bytes | None) -> Any:
    return json.loads(data) if data else None


class ListPublisher(Publisher, Subscription):  # type: ignore[misc]
    """Emits the payloads only as the responder requests them; C on the last one."""

    def __init__(self, payloads: list[Payload]) -> None:
        self._payloads = payloads
        self._next = 0
        self._subscriber: Subscriber | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber
        subscriber.on_subscribe(self)

    def request(self, n: int) -> None:
        subscriber = self._subscriber
        while subscriber is not None and n > 0 and self._next < len(self._payloads):
            n -= 1
            last = self._next == len(self._payloads) - 1
            subscriber.on_next(self._payloads[self._next], is_complete=last)
            self._next += 1

    def cancel(self) -> None:
        self._next = len(self._payloads)


class SetupErrorHandler(BaseRequestHandler):  # type: ignore[misc]
    """Keeps the connection-level ERROR (a refused SETUP)."""

    def __init__(self) -> None:
        self.error: asyncio.Future[PeerError] = asyncio.get_running_loop().create_future()

    async def on_error(self, error_code: ErrorCode, payload: Payload) -> None:
        if not self.error.done():
            self.error.set_result(PeerError(int(error_code), bytes(payload.data or b"").decode()))


def callback_router() -> RequestRouter:
    router = RequestRouter()

    @router.response("client.name")
    async def client_name() -> Awaitable[Payload]:
        return create_future(Payload(dumps("rsocket-py")))

    return router


async def connect(port: int, setup_metadata: bytes, handler: Callable[[], Any]) -> RSocketClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = RSocketClient(
        single_transport_provider(TransportTCP(reader, writer)),
        handler_factory=handler,
        data_encoding=WellKnownMimeTypes.APPLICATION_JSON,
        metadata_encoding=WellKnownMimeTypes.MESSAGE_RSOCKET_COMPOSITE_METADATA,
        setup_payload=Payload(dumps({"client": "rsocket-py"}), setup_metadata),
        keep_alive_period=timedelta(seconds=5),
        max_lifetime_period=timedelta(seconds=30),
    )
    await client.connect()
    return client


async def step(results: dict[str, Any], name: str, run: Callable[[], Awaitable[Any]]) -> None:
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            results[name] = {"value": await run()}
    except PeerError as exc:
        results[name] = {"error": {"code": exc.code, "message": exc.message}}
    except Exception as exc:
        results[name] = {"error": {"code": None, "message": f"{type(exc).__name__}: {exc}"}}


async def scenario_composite(port: int) -> dict[str, Any]:
    client = await connect(
        port,
        composite(route("connect.py"), authenticate_simple("alice", "secret")),
        lambda: RoutingRequestHandler(callback_router()),
    )
    awaitable = AwaitableRSocket(client)
    results: dict[str, Any] = {}

    async def rr(route_name: str, body: Any = None, *extra: Any) -> Any:
        data = b"" if body is None else dumps(body)
        response = await client.request_response(Payload(data, composite(route(route_name), *extra)))
        return loads(response.data)

    async def stream() -> Any:
        payload = Payload(dumps({"count": 10}), composite(route("numbers")))
        return [loads(p.data) for p in await awaitable.request_stream(payload, limit_rate=3)]

    async def channel() -> Any:
        first = Payload(dumps(1), composite(route("sum")))
        rest = ListPublisher([Payload(dumps(n)) for n in (2, 3, 4)])
        return [loads(p.data) for p in await awaitable.request_channel(first, rest)]

    async def fire() -> None:
        await client.fire_and_forget(Payload(dumps({"event": "py"}), composite(route("audit"))))

    try:
        await step(results, "user", lambda: rr("users.7"))
        await step(results, "echo", lambda: rr("echo", {"hello": "world"}))
        await step(results, "numbers", stream)
        await step(results, "sum", channel)
        await step(results, "audit", fire)
        await step(results, "audit_count", lambda: rr("audit.count"))
        await step(results, "unknown", lambda: rr("no.such.route"))
        await step(results, "rejected", lambda: rr("admin.stats"))
        await step(results, "bearer_stats", lambda: rr("admin.stats", None, authenticate_bearer("token-123")))
        await step(results, "invalid", lambda: rr("users.create", {"name": "Eve", "email": 5}))
        await step(
            results, "created", lambda: rr("users.create", {"name": "Eve", "email": "eve@example.com"})
        )
        await step(results, "callback", lambda: rr("callback"))
    finally:
        await client.close()
    return results


async def scenario_bearer_setup(port: int) -> dict[str, Any]:
    client = await connect(port, composite(authenticate_bearer("token-123")), BaseRequestHandler)
    results: dict[str, Any] = {}

    async def rr(route_name: str, body: Any = None) -> Any:
        data = b"" if body is None else dumps(body)
        return loads((await client.request_response(Payload(data, composite(route(route_name))))).data)

    try:
        await step(results, "stats", lambda: rr("admin.stats"))
        await step(results, "echo", lambda: rr("echo", {"via": "bearer"}))
    finally:
        await client.close()
    return results


async def scenario_bad_setup(port: int) -> dict[str, Any]:
    handler = SetupErrorHandler()
    client = await connect(port, composite(authenticate_simple("alice", "wrong")), lambda: handler)
    results: dict[str, Any] = {}

    async def refused() -> Any:
        raise await handler.error

    try:
        await step(results, "setup", refused)
    finally:
        await client.close()
    return results


async def scenario_mime(port: int) -> dict[str, Any]:
    client = await connect(port, composite(authenticate_simple("alice", "secret")), BaseRequestHandler)
    results: dict[str, Any] = {}

    async def cbor_in_json_out() -> Any:
        metadata = composite(
            route("convert"),
            data_mime_type(WellKnownMimeTypes.APPLICATION_CBOR),
            data_mime_types(WellKnownMimeTypes.APPLICATION_JSON),
        )
        response = await client.request_response(Payload(cbor2.dumps({"format": "cbor"}), metadata))
        return {"data": loads(response.data), "metadata_hex": bytes(response.metadata or b"").hex()}

    try:
        await step(results, "converted", cbor_in_json_out)
    finally:
        await client.close()
    return results


SCENARIOS = {
    "composite": scenario_composite,
    "bearer_setup": scenario_bearer_setup,
    "bad_setup": scenario_bad_setup,
    "mime": scenario_mime,
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    args = parser.parse_args()
    try:
        out: dict[str, Any] = {"ok": True, "results": asyncio.run(SCENARIOS[args.scenario](args.port))}
    except Exception as exc:
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
