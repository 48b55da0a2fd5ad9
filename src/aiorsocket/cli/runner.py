"""Running one client command: connect, interact, print, and map every outcome to an exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import selectors
import signal
import stat
import sys
from collections.abc import AsyncIterator
from typing import IO, Final

from ..errors import (
    ConnectionCloseError,
    ConnectionLostError,
    ErrorCode,
    ErrorFrameReceived,
    LocalProtocolError,
    RejectedResumeError,
    SetupError,
)
from ..errors import ConnectionError as ConnectionErrorFrame
from ..frames import MAX_FRAME_SIZE
from ..payload import Payload
from ..session import RequestStream, RSocket
from .output import OutputClosedError, PayloadPrinter, Progress, stderr_warning
from .plan import EXAMPLE_URI, Plan, UsageError, build_plan
from .request import (
    EXIT_APPLICATION_ERROR,
    EXIT_CONNECTION,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
)

#: Errors on stream 0: the connection itself failed, whatever the request was.
_CONNECTION_FRAMES: Final = (SetupError, RejectedResumeError, ConnectionErrorFrame, ConnectionCloseError)


def run(args: argparse.Namespace) -> int:
    prefix = f"aiorsocket {args.command}"
    try:
        plan = build_plan(args, _read_all_stdin)
        return asyncio.run(_main(plan, prefix))
    except UsageError as exc:
        return _usage_error(prefix, exc, args.parser)
    except KeyboardInterrupt:
        # Ctrl-C before the event loop took over the signal (e.g. while reading stdin).
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _read_all_stdin() -> bytes:
    if sys.stdin.isatty():
        print("(reading from stdin; end with Ctrl-D)", file=sys.stderr)
    return sys.stdin.buffer.read()


def _usage_error(prefix: str, exc: UsageError, parser: argparse.ArgumentParser | None) -> int:
    if parser is not None:
        parser.print_usage(sys.stderr)
    print(f"{prefix}: error: {exc.message}", file=sys.stderr)
    print(f"  e.g. {exc.example}", file=sys.stderr)
    return EXIT_USAGE


def _error_name(exc: ErrorFrameReceived) -> str:
    code = int(exc.code)
    try:
        name = ErrorCode(code).name
    except ValueError:
        name = "application-defined error"
    return f"{name} ({code:#x}): {exc.message}"


async def _main(plan: Plan, prefix: str) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    interrupted = False

    def interrupt() -> None:
        # A second Ctrl-C cancels again, which also cuts the clean-up short.
        nonlocal interrupted
        interrupted = True
        task.cancel()

    # Where the loop cannot take signals (Windows), asyncio.run's own Ctrl-C handling cancels
    # the task the same way and run() reports the KeyboardInterrupt it raises afterwards.
    handles_sigint = True
    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except NotImplementedError:
        handles_sigint = False
    deadline = asyncio.timeout(plan.timeout)
    try:
        async with deadline:
            await _session(plan)
        return EXIT_OK
    except asyncio.CancelledError:
        if not interrupted:
            raise
        task.uncancel()
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except TimeoutError as exc:
        if not deadline.expired():
            print(f"{prefix}: cannot connect: {exc}", file=sys.stderr)
            return EXIT_CONNECTION
        print(f"{prefix}: timed out after {plan.timeout:g} s (--timeout)", file=sys.stderr)
        return EXIT_TIMEOUT
    except OutputClosedError:
        # Whoever read stdout has gone (`| head`); point stdout at nothing so exit does not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_OK
    except UsageError as exc:
        return _usage_error(prefix, exc, None)
    except _CONNECTION_FRAMES as exc:
        what = "refused the SETUP" if isinstance(exc, SetupError) else "closed the connection"
        print(f"{prefix}: the server {what}: {_error_name(exc)}", file=sys.stderr)
        return EXIT_CONNECTION
    except ErrorFrameReceived as exc:
        print(f"{prefix}: the server answered with an error: {_error_name(exc)}", file=sys.stderr)
        return EXIT_APPLICATION_ERROR
    except ConnectionLostError as exc:
        print(f"{prefix}: connection lost: {exc}", file=sys.stderr)
        return EXIT_CONNECTION
    except LocalProtocolError as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"{prefix}: cannot connect: {exc}", file=sys.stderr)
        return EXIT_CONNECTION
    finally:
        if handles_sigint:
            loop.remove_signal_handler(signal.SIGINT)


async def _session(plan: Plan) -> None:
    async with plan.connector as rsocket:
        interaction = plan.interaction
        if interaction == "fnf":
            await rsocket.fire_and_forget(Payload(plan.payloads[0], plan.metadata))
            return
        if interaction == "push":
            assert plan.metadata is not None
            await rsocket.metadata_push(plan.metadata)
            return
        printer = PayloadPrinter(
            sys.stdout.buffer,
            fmt=plan.output,
            show_metadata=plan.show_metadata,
            data_mime=plan.data_mime,
            metadata_mime=plan.metadata_mime,
            warn=stderr_warning(f"aiorsocket {plan.command}"),
        )
        if interaction == "request":
            printer.write(await rsocket.request_response(Payload(plan.payloads[0], plan.metadata)))
            return
        if interaction == "stream":
            stream = rsocket.request_stream(
                Payload(plan.payloads[0], plan.metadata), limit_rate=plan.limit_rate, low_tide=plan.low_tide
            )
            await _consume(plan, stream, printer)
            return
        async with _StdinLines.open_if(plan.stdin_lines) as lines:
            await _consume(plan, await _open_channel(plan, rsocket, lines), printer)


async def _open_channel(plan: Plan, rsocket: RSocket, lines: _StdinLines | None) -> RequestStream:
    if lines is None:
        first, rest = plan.payloads[0], plan.payloads[1:]

        async def outbound() -> AsyncIterator[Payload]:
            for data in rest:
                yield Payload(data)

        source = outbound() if rest else None
    else:
        line = await lines.readline()
        if line is None:
            raise UsageError(
                "stdin had no lines, and a channel needs at least one payload",
                f"echo hello | aiorsocket channel {EXAMPLE_URI} -d -",
            )
        first = plan.encode_line(line)

        async def from_stdin() -> AsyncIterator[Payload]:
            while (line := await lines.readline()) is not None:
                yield Payload(plan.encode_line(line))

        source = from_stdin()
    return rsocket.request_channel(
        Payload(first, plan.metadata), source, limit_rate=plan.limit_rate, low_tide=plan.low_tide
    )


async def _consume(plan: Plan, stream: RequestStream, printer: PayloadPrinter) -> None:
    """Print every item; leaving early by any route (--take, Ctrl-C, an error) sends CANCEL."""
    show_progress = (
        plan.progress if plan.progress is not None else (sys.stderr.isatty() and plan.debug_log is None)
    )
    progress = (
        Progress(sys.stderr, asyncio.get_running_loop().time, share_line_with_stdout=sys.stdout.isatty())
        if show_progress
        else None
    )
    count = 0
    try:
        async with stream:
            async for item in stream:
                if progress is not None:
                    progress.before_output()
                printer.write(item)
                count += 1
                if progress is not None:
                    progress.tick(count)
                if count == plan.take:
                    break
    finally:
        if progress is not None:
            progress.finish()


class _StdinLines:
    """Standard input one line at a time, without blocking the event loop.

    Pipes and terminals are read through the loop; regular files and devices
    the loop cannot watch (``/dev/null``) are read directly, which never blocks
    for long.  O_NONBLOCK, which the loop sets on the shared file description,
    is cleared again on exit so that the shell's terminal is left as it was.
    """

    def __init__(self) -> None:
        self._fd = sys.stdin.fileno()
        self._was_blocking = os.get_blocking(self._fd)
        self._reader: asyncio.StreamReader | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._file: IO[bytes] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open_if(cls, wanted: bool) -> AsyncIterator[_StdinLines | None]:
        if not wanted:
            yield None
            return
        lines = cls()
        try:
            await lines._open()
            yield lines
        finally:
            lines._close()

    async def _open(self) -> None:
        if not _pollable(self._fd):
            self._open_direct()
            return
        reader = asyncio.StreamReader(limit=MAX_FRAME_SIZE)
        # A duplicate, because closing the pipe transport closes its file.
        pipe = os.fdopen(os.dup(self._fd), "rb", buffering=0)
        try:
            self._transport, _ = await asyncio.get_running_loop().connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), pipe
            )
        except BaseException:
            pipe.close()
            raise
        self._reader = reader

    def _open_direct(self) -> None:
        self._file = open(self._fd, "rb", closefd=False)  # noqa: SIM115 - closed in _close

    async def readline(self) -> bytes | None:
        """The next line without its line break; None at the end of input."""
        if self._reader is not None:
            try:
                line = await self._reader.readline()
            except ValueError:
                raise self._too_long() from None
        else:
            assert self._file is not None
            line = self._file.readline(MAX_FRAME_SIZE + 1)
            if len(line) > MAX_FRAME_SIZE:
                raise self._too_long()
        if not line:
            return None
        return line.removesuffix(b"\n").removesuffix(b"\r")

    @staticmethod
    def _too_long() -> UsageError:
        return UsageError(
            f"a line of stdin is longer than {MAX_FRAME_SIZE} bytes, the largest frame",
            f"aiorsocket channel {EXAMPLE_URI} -d @big-payload.bin",
        )

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._file is not None:
            self._file.close()
        with contextlib.suppress(OSError):
            os.set_blocking(self._fd, self._was_blocking)


def _pollable(fd: int) -> bool:
    """Whether the event loop can watch ``fd``: pipes, sockets and terminals yes; files and /dev/null no."""
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return False
    with selectors.DefaultSelector() as selector:
        try:
            selector.register(fd, selectors.EVENT_READ)
        except (OSError, ValueError):
            return False
    return True
