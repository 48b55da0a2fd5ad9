"""A resumable WebSocket backend for the resumption-behind-nginx tests.

Run: python resumable_stream_server.py [--port 0] [--lifetime 30]
→ prints ``READY <port>`` once serving ``ws://127.0.0.1:<port>/rsocket`` with resumption on.

Each client names its session key in its SETUP data (the same key it puts in its URL for the proxy
to hash), so that this process can report what happened to each session it holds:

* request/response ``whoami`` answers this process's pid;
* request/stream ``N`` yields N items ``<pid> <index>``: a stream that moved to another process
  midway would show another pid;
* request/response ``stats`` answers JSON ``{"pid", "resumable_sessions", "sessions": {key:
  {"disconnects", "resumes", "state"}}}``, the server side's own count of the links each session
  lost and the RESUMEs it accepted.  Meant for a direct connection, not through the proxy.

SIGTERM closes gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator

import aiorsocket
from aiorsocket import Payload, ResumeConfig, RSocket
from aiorsocket.handler import ConnectionSetup


class Backend:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.sessions: dict[str, RSocket] = {}
        self.server: aiorsocket.Server | None = None

    async def accept(self, setup: ConnectionSetup, requester: RSocket) -> aiorsocket.RequestHandler:
        key = setup.payload.data.decode()
        if key:
            self.sessions[key] = requester
        return Handler(self)

    def stats(self) -> bytes:
        sessions = {}
        for key, rsocket in self.sessions.items():
            stats = rsocket.resume_stats
            if stats is not None:
                sessions[key] = {
                    "disconnects": stats.disconnects,
                    "resumes": stats.resumes,
                    "state": stats.state.value,
                }
        assert self.server is not None
        held = self.server.resumable_sessions
        return json.dumps({"pid": self.pid, "resumable_sessions": held, "sessions": sessions}).encode()


class Handler(aiorsocket.RequestHandler):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def request_response(self, payload: Payload) -> Payload:
        if payload.data == b"stats":
            return Payload(self.backend.stats())
        if payload.data == b"whoami":
            return Payload(b"%d" % self.backend.pid)
        return Payload(payload.data)

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        pid = self.backend.pid
        for index in range(int(payload.data)):
            yield Payload(b"%d %d" % (pid, index))


async def main(port: int, lifetime: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    backend = Backend()
    uri = f"ws://127.0.0.1:{port}/rsocket"
    async with aiorsocket.serve(
        backend.accept, uri, resume=ResumeConfig(session_lifetime=lifetime)
    ) as server:
        backend.server = server
        print(f"READY {server.port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=30.0)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.lifetime))
