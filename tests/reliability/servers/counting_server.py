"""A named backend for the scale-out tests: answers ``<name>:<data>`` and counts what it served.

Run: python counting_server.py --name b1 [--port 0]  → prints ``READY <port>`` once listening on 127.0.0.1.

Request/response ``stats`` answers ``<served> <duplicates>``: how many requests it answered, and how many
of them carried data it had already seen (each client request carries a unique id, so any duplicate would
mean a request ran twice).  SIGTERM closes gracefully; the tests also SIGKILL it to model a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import aiorsocket
from aiorsocket import Payload


class Counting(aiorsocket.RequestHandler):
    def __init__(self, name: str) -> None:
        self.name = name.encode()
        self.seen: set[bytes] = set()
        self.duplicates = 0

    async def request_response(self, payload: Payload) -> Payload:
        if payload.data == b"stats":
            return Payload(b"%d %d" % (len(self.seen) + self.duplicates, self.duplicates))
        if payload.data in self.seen:
            self.duplicates += 1
        self.seen.add(payload.data)
        return Payload(self.name + b":" + payload.data)


async def main(name: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with aiorsocket.serve(Counting(name), f"tcp://127.0.0.1:{port}") as server:
        print(f"READY {server.port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.name, args.port))
