"""The aiorsocket demo: a server and a client exercising every interaction model over TCP.

    bash scripts/demo            (installs, then runs this)
    python examples/demo.py      (if aiorsocket is already installed)

The server routes requests by the routing entry of composite metadata, the way Spring's
@MessageMapping clients send them; the client prints what each interaction returns.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiorsocket
from aiorsocket import ApplicationError, Payload
from aiorsocket.extensions import (
    COMPOSITE_METADATA_MIME,
    build_composite_metadata,
    parse_composite_metadata,
)
from aiorsocket.frames import decode_frame
from aiorsocket.frames.describe import describe_frame


class Demo(aiorsocket.RequestHandler):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.logged = asyncio.Event()

    @staticmethod
    def route(payload: Payload) -> str | None:
        return None if payload.metadata is None else parse_composite_metadata(payload.metadata).route

    async def request_response(self, payload: Payload) -> Payload:
        route = self.route(payload)
        if route == "greet":
            name = json.loads(payload.data)["name"]
            return Payload(json.dumps({"greeting": f"Hello, {name}!"}).encode())
        raise ApplicationError(f"no route '{route}'")

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        if self.route(payload) != "countdown":
            raise ApplicationError(f"no route '{self.route(payload)}'")
        for n in range(json.loads(payload.data)["from"], 0, -1):
            yield Payload(json.dumps({"n": n}).encode())

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        total = 0
        async for item in inbound:
            total += json.loads(item.data)["add"]
            yield Payload(json.dumps({"running_total": total}).encode())

    async def fire_and_forget(self, payload: Payload) -> None:
        self.events.append(f"log: {json.loads(payload.data)['msg']}")
        self.logged.set()

    async def metadata_push(self, metadata: bytes) -> None:
        self.events.append(f"metadata push: {metadata.decode()}")


def meta(route: str) -> bytes:
    return build_composite_metadata(route=route)


def body(value: object) -> bytes:
    return json.dumps(value).encode()


async def main() -> None:
    handler = Demo()
    async with aiorsocket.serve(handler, "tcp://127.0.0.1:0") as server:
        uri = f"tcp://127.0.0.1:{server.port}"
        print(f"server listening on {uri}")
        async with aiorsocket.connect(
            uri, data_mime="application/json", metadata_mime=COMPOSITE_METADATA_MIME
        ) as rs:
            reply = await rs.request_response(Payload(body({"name": "Ada"}), meta("greet")))
            print("request/response  greet      ->", reply.data.decode())

            items = rs.request_stream(Payload(body({"from": 5}), meta("countdown")), limit_rate=2)
            print("request/stream    countdown  ->", [json.loads(p.data)["n"] async for p in items])

            async def numbers() -> AsyncIterator[Payload]:
                for n in (10, 20, 30):
                    yield Payload(body({"add": n}))

            channel = rs.request_channel(Payload(body({"add": 1}), meta("sum")), numbers())
            print("request/channel   sum        ->", [json.loads(p.data) async for p in channel])

            await rs.fire_and_forget(Payload(body({"msg": "hello from the client"}), meta("log")))
            await handler.logged.wait()
            await rs.metadata_push(b"config-version=2")
            try:
                await rs.request_response(Payload(b"{}", meta("missing")))
            except ApplicationError as exc:
                print(f"request/response  missing    -> {exc!r}")
        print("server saw        fnf + push ->", handler.events)

    print("\nOne REQUEST_STREAM frame as it travels, decoded:")
    wire = bytes.fromhex("00000001 1900 00000002 00000e fe00000a 09636f756e74646f776e 7b2266726f6d223a20357d")
    print(json.dumps(describe_frame(decode_frame(wire)), indent=2))


if __name__ == "__main__":
    asyncio.run(main())
