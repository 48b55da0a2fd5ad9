"""RequestHandler.eager: request/response and fire-and-forget handlers start inline and get a
task only if they suspend; everything else about them stays as with a task per request."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.errors import ApplicationError
from aiorsocket.transports.local import LocalFrameTransport
from support.polling import wait_for

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


class Eager(aiorsocket.RequestHandler):
    eager = True

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.tasks: list[asyncio.Task[object] | None] = []
        self.after_release: asyncio.Task[object] | None = None
        self.fnf: list[bytes] = []
        self.fnf_done = asyncio.Event()
        self.waiting = asyncio.Event()

    async def request_response(self, payload: Payload) -> Payload | None:
        self.tasks.append(asyncio.current_task())
        VAR.set(payload.data.decode())  # must not leak into the connection's reader
        if payload.data == b"wait":
            self.waiting.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            self.after_release = asyncio.current_task()
            return Payload(b"released:" + VAR.get().encode())
        if payload.data == b"fail-later":
            await asyncio.sleep(0)
            raise ApplicationError("later")
        if payload.data == b"timeout-later":
            await asyncio.sleep(0)
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)
        if payload.data == b"fail":
            raise ApplicationError("now")
        return Payload(b"ok:" + payload.data)

    async def fire_and_forget(self, payload: Payload) -> None:
        if payload.data == b"slow":
            await asyncio.sleep(0.01)
        if payload.data == b"boom":
            raise RuntimeError("fnf failed")
        self.fnf.append(payload.data)
        if len(self.fnf) == 3:
            self.fnf_done.set()

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        for _ in range(int(payload.data)):
            yield Payload(bytes(64 * 1024))


@pytest.fixture
async def served() -> AsyncIterator[tuple[aiorsocket.Server, Eager]]:
    handler = Eager()
    async with aiorsocket.serve(handler, "tcp://127.0.0.1:0") as srv:
        yield srv, handler


async def test_a_handler_that_never_suspends_runs_without_a_task(
    served: tuple[aiorsocket.Server, Eager],
) -> None:
    srv, handler = served
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        # A request read together with the SETUP starts in the acceptor's task: a task of its own.
        await rs.request_response(Payload(b"first"))
        handler.tasks.clear()
        assert await rs.request_response(Payload(b"a")) == Payload(b"ok:a")
        with pytest.raises(ApplicationError, match="now"):
            await rs.request_response(Payload(b"fail"))
    assert handler.tasks == [None, None]
    assert VAR.get() == "unset"


async def test_a_suspended_handler_carries_on_in_a_task_and_never_holds_up_others(
    served: tuple[aiorsocket.Server, Eager],
) -> None:
    srv, handler = served
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        await rs.request_response(Payload(b"first"))
        handler.tasks.clear()
        waiting = asyncio.ensure_future(rs.request_response(Payload(b"wait")))
        for i in range(20):
            assert await rs.request_response(Payload(b"%d" % i)) == Payload(b"ok:%d" % i)
        assert not waiting.done()
        handler.release.set()
        # The context of its first step is the one it carries on in.
        assert await waiting == Payload(b"released:wait")
        with pytest.raises(ApplicationError, match="later"):
            await rs.request_response(Payload(b"fail-later"))
        # asyncio.timeout works once the handler has suspended: it runs in its own task then.
        with pytest.raises(ApplicationError, match="TimeoutError"):
            await rs.request_response(Payload(b"timeout-later"))
    assert handler.tasks[0] is None
    assert isinstance(handler.after_release, asyncio.Task)


async def test_cancel_reaches_a_suspended_inline_handler(served: tuple[aiorsocket.Server, Eager]) -> None:
    srv, handler = served
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await rs.request_response(Payload(b"wait"))
        await asyncio.wait_for(handler.cancelled.wait(), 5)
        assert await rs.request_response(Payload(b"after")) == Payload(b"ok:after")
        (conn,) = srv.connections
        assert conn.connection.stream_count == 0


async def test_closing_cancels_a_suspended_inline_handler(served: tuple[aiorsocket.Server, Eager]) -> None:
    srv, handler = served
    rs = await aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}")
    waiting = asyncio.ensure_future(rs.request_response(Payload(b"wait")))
    await asyncio.wait_for(handler.waiting.wait(), 5)
    await rs.aclose()
    await asyncio.wait_for(handler.cancelled.wait(), 5)
    with pytest.raises(aiorsocket.errors.ConnectionLostError):
        await waiting


async def test_fire_and_forget_inline_and_suspended(
    served: tuple[aiorsocket.Server, Eager], caplog: pytest.LogCaptureFixture
) -> None:
    srv, handler = served
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        await rs.fire_and_forget(Payload(b"slow"))
        await rs.fire_and_forget(Payload(b"boom"))
        await rs.fire_and_forget(Payload(b"a"))
        await rs.fire_and_forget(Payload(b"b"))
        await asyncio.wait_for(handler.fnf_done.wait(), 5)
        (conn,) = srv.connections
        assert not conn._tasks
    assert sorted(handler.fnf) == [b"a", b"b", b"slow"]
    assert "fire-and-forget handler failed" in caplog.text


async def test_an_inline_answer_waits_while_the_transport_is_full() -> None:
    """A handler that answers without suspending still holds its answer back while the peer
    does not read: the transport's queue stays bounded, as with a task per request."""
    handler = Eager()
    async with (
        aiorsocket.serve(handler, "local://eager-full"),
        aiorsocket.connect("local://eager-full") as rs,
    ):
        await rs.request_response(Payload(b"first"))
        assert isinstance(rs.transport, LocalFrameTransport)
        rs.transport.pause_reading()
        stream = rs.request_stream(Payload(b"100"), limit_rate=None)
        first = asyncio.ensure_future(anext(stream))
        queued = -1

        def settled() -> bool:
            nonlocal queued
            before, queued = queued, rs.transport._inbox_bytes
            return queued == before

        await wait_for(settled, "the server to stop writing")
        answer = asyncio.ensure_future(rs.request_response(Payload(b"held")))
        asked = len(handler.tasks)
        await wait_for(lambda: len(handler.tasks) > asked, "the handler to run")
        assert handler.tasks[-1] is None  # it did run inline
        for _ in range(10):
            await asyncio.sleep(0)
        assert rs.transport._inbox_bytes == queued
        rs.transport.resume_reading()
        async with asyncio.timeout(5):
            assert await answer == Payload(b"ok:held")
            await first
        await stream.aclose()


class Escape(BaseException):
    """Neither an Exception nor a cancellation: what no handler error path takes."""


class Misbehaving(aiorsocket.RequestHandler):
    async def request_response(self, payload: Payload) -> Payload | None:
        if payload.data == b"bytes":
            return b"not a payload"  # type: ignore[return-value]  # the mistake under test
        if payload.data == b"escape":
            raise Escape()
        return Payload(b"ok")


class EagerMisbehaving(Misbehaving):
    eager = True


@pytest.mark.parametrize("handler_class", [Misbehaving, EagerMisbehaving], ids=["task", "eager"])
async def test_rr2_a_response_that_is_not_a_payload_is_answered_with_application_error(
    handler_class: type[Misbehaving],
) -> None:
    async with (
        aiorsocket.serve(handler_class(), "tcp://127.0.0.1:0") as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs,
    ):
        await rs.request_response(Payload(b"first"))  # past the acceptor's task
        with pytest.raises(ApplicationError, match="must return a Payload or None, not bytes"):
            await rs.request_response(Payload(b"bytes"))
        assert await rs.request_response(Payload(b"fine")) == Payload(b"ok")


async def test_a_base_exception_from_an_inline_handler_is_reported_not_raised_into_the_reader() -> None:
    reported: list[BaseException] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: reported.append(context["exception"]))
    try:
        async with (
            aiorsocket.serve(EagerMisbehaving(), "tcp://127.0.0.1:0") as srv,
            aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs,
        ):
            await rs.request_response(Payload(b"first"))  # past the acceptor's task
            escaped = asyncio.ensure_future(rs.request_response(Payload(b"escape")))
            # The connection reads on and answers others.
            assert await rs.request_response(Payload(b"fine")) == Payload(b"ok")
            await wait_for(lambda: bool(reported), "the escape to be reported")
            assert isinstance(reported[0], Escape)
            assert not escaped.done()  # nobody answers it, as with a task that died of it
            escaped.cancel()
            (conn,) = srv.connections
            await wait_for(lambda: conn.connection.stream_count == 0, "the cancel to end the stream")
    finally:
        loop.set_exception_handler(None)


async def test_an_inline_answer_leaves_in_the_same_loop_pass() -> None:
    """The answer is written as the read that brought the request is handled: no flush is left
    scheduled for the next loop pass (which would cost an extra loop iteration per request)."""
    handler = Eager()
    async with (
        aiorsocket.serve(handler, "local://same-pass") as srv,
        aiorsocket.connect("local://same-pass") as rs,
    ):
        await rs.request_response(Payload(b"first"))  # past the acceptor's task
        (server_side,) = srv.connections
        transport = server_side.transport
        assert isinstance(transport, LocalFrameTransport)
        after_read: list[tuple[bool, int]] = []

        class Observer:
            """Stands between the transport and the session, to look right after each read."""

            def frames_received(self, frames: list[memoryview]) -> None:
                server_side.frames_received(frames)
                after_read.append((server_side._flush_handle is None, server_side.connection.bytes_to_send))

            def __getattr__(self, name: str) -> object:
                return getattr(server_side, name)

        transport._receiver = Observer()  # type: ignore[assignment]
        assert await rs.request_response(Payload(b"a")) == Payload(b"ok:a")
    assert after_read == [(True, 0)]
