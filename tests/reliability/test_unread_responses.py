"""A peer that sends requests but never reads cannot make the server buffer responses without bound."""

from __future__ import annotations

import asyncio
import socket

import aiorsocket
from aiorsocket import Payload
from aiorsocket.frames import RequestResponseFrame, SetupFrame, encode_frame_with_length
from aiorsocket.transports.stream import WRITE_HIGH_WATER


class Big(aiorsocket.RequestHandler):
    def __init__(self) -> None:
        self.calls = 0
        self.enough = asyncio.Event()

    async def request_response(self, payload: Payload) -> Payload:
        self.calls += 1
        if self.calls == 200:
            self.enough.set()
        return Payload(b"x" * 256 * 1024)


async def test_responses_to_a_non_reading_peer_wait_for_the_socket() -> None:
    handler = Big()
    async with aiorsocket.serve(handler, "tcp://127.0.0.1:0") as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        try:
            requests = [SetupFrame(60_000, 120_000, "a", "b")] + [
                RequestResponseFrame(1 + 2 * i, b"q") for i in range(200)
            ]
            sock.sendall(b"".join(encode_frame_with_length(f) for f in requests))
            # 200 answers of 256 KiB would be 50 MiB; every handler runs, but answers wait.
            await asyncio.wait_for(handler.enough.wait(), 10)
            (conn,) = srv.connections
            for _ in range(20):  # let every responder reach its wait; bounded
                await asyncio.sleep(0)
            # The asyncio transport underneath holds what is waiting for the socket (48 MiB
            # without the wait: measured).
            transport = conn.transport._transport
            assert transport is not None
            assert transport.get_write_buffer_size() < WRITE_HIGH_WATER + 2 * 256 * 1024 + 65536
        finally:
            sock.close()
