"""The conformance server: fixed, documented semantics any RSocket peer can be pointed at.

    python examples/conformance_server.py --uri tcp://127.0.0.1:7878 [--uri ws://127.0.0.1:8080/rsocket ...]
        [--reject-setup] [--certfile CERT --keyfile KEY]

Semantics (counts are per connection):
- request/response: data ``error`` → ERROR[APPLICATION_ERROR] "boom"; ``count`` → the number of
  fire-and-forget requests received so far; ``pushcount`` → the number of metadata pushes;
  anything else → ``echo:`` + data, metadata echoed unchanged.
- request/stream: data is a decimal N → N items ``0`` … ``N-1``, exactly as request-n allows.
- request/channel: every inbound payload is echoed back; completes when the requester completes.
- fire-and-forget and metadata push: counted.
- with composite metadata as the SETUP metadata MIME, a routing entry picks the behaviour:
  routes ``echo``, ``stream``, ``channel``, ``fnf``, ``count``, ``pushcount``, ``error``.
- ``--reject-setup``: every SETUP is answered with ERROR[REJECTED_SETUP] "go away".

One server object listens on every ``--uri`` (any scheme) with the same handler; ``--certfile`` and
``--keyfile`` serve the TLS ones (``tls``, ``wss``, ``quic``). Once listening it prints
``READY <port> [<port> ...]`` (one per URI, 0 for Unix and local names; handy with port 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiorsocket
from aiorsocket import ApplicationError, Payload
from aiorsocket.errors import MetadataError, RejectedSetupError
from aiorsocket.extensions import COMPOSITE_METADATA_MIME, parse_composite_metadata
from aiorsocket.transports.tls import TLSConfig

RR_ROUTES = {"echo", "count", "pushcount", "error"}


class Conformance(aiorsocket.RequestHandler):
    def __init__(self, routed: bool) -> None:
        self.routed = routed
        self.fnf_count = 0
        self.push_count = 0

    def route(self, payload: Payload) -> str | None:
        if not self.routed or payload.metadata is None:
            return None
        try:
            return parse_composite_metadata(payload.metadata).route
        except MetadataError:
            return None

    def check_route(self, payload: Payload, allowed: set[str]) -> str | None:
        route = self.route(payload)
        if route is not None and route not in allowed:
            raise ApplicationError(f"no route '{route}' for this interaction model")
        return route

    async def request_response(self, payload: Payload) -> Payload:
        route = self.check_route(payload, RR_ROUTES)
        action = route if route not in (None, "echo") else payload.data.decode("utf-8", "replace")
        if action == "error":
            raise ApplicationError("boom")
        if action == "count":
            return Payload(str(self.fnf_count).encode())
        if action == "pushcount":
            return Payload(str(self.push_count).encode())
        return Payload(b"echo:" + payload.data, payload.metadata)

    async def fire_and_forget(self, payload: Payload) -> None:
        self.check_route(payload, {"fnf"})
        self.fnf_count += 1

    async def metadata_push(self, metadata: bytes) -> None:
        self.push_count += 1

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        self.check_route(payload, {"stream"})
        try:
            count = int(payload.data)
        except ValueError:
            raise ApplicationError(f"request/stream wants a decimal count, not {payload.data!r}") from None
        for i in range(count):
            yield Payload(str(i).encode())

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        self.check_route(payload, {"channel"})
        async for item in inbound:
            yield item


def make_acceptor(reject_setup: bool) -> aiorsocket.session.Acceptor:
    async def acceptor(setup: aiorsocket.ConnectionSetup, requester: aiorsocket.RSocket) -> Conformance:
        if reject_setup:
            raise RejectedSetupError("go away")
        return Conformance(routed=setup.metadata_mime == COMPOSITE_METADATA_MIME)

    return acceptor


async def run(uris: list[str], reject_setup: bool, fragment_size: int, tls: TLSConfig | None) -> None:
    server = await aiorsocket.serve(make_acceptor(reject_setup), *uris, fragment_size=fragment_size, ssl=tls)
    print("READY " + " ".join(str(urlsplit(uri).port or 0) for uri in server.bound_uris), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close(grace=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--uri",
        action="append",
        required=True,
        help="where to listen, e.g. tcp://127.0.0.1:7878 (repeatable)",
    )
    parser.add_argument("--reject-setup", action="store_true", help="answer every SETUP with REJECTED_SETUP")
    parser.add_argument(
        "--fragment-size", type=int, default=0, help="fragment outbound frames (bytes, >= 64)"
    )
    parser.add_argument("--certfile", help="certificate chain (PEM) for tls://, wss:// and quic:// URIs")
    parser.add_argument("--keyfile", help="private key (PEM) for --certfile")
    args = parser.parse_args()
    tls = TLSConfig(certfile=args.certfile, keyfile=args.keyfile) if args.certfile else None
    asyncio.run(run(args.uri, args.reject_setup, args.fragment_size, tls))


if __name__ == "__main__":
    main()
