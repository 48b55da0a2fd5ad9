"""Apps for ``aiorsocket serve`` tests (imported by the CLI through ``--app-dir``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from aiorsocket import Payload, RequestHandler
from aiorsocket.app import Router

app = Router()


@app.response("pid")
async def pid() -> int:
    return os.getpid()


@app.stream("count.{n}")
async def count(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


class Echo(RequestHandler):
    async def request_response(self, payload: Payload) -> Payload:
        return Payload(b"echo:" + payload.data)


handler = Echo()


def create_app() -> Router:
    return app


not_an_app = 3
