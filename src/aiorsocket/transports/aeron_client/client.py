"""One Aeron client per event loop and media driver, shared by every transport and listener on them.

An Aeron client is heavy (it maps the driver's command-and-control file and runs a conductor
thread for the driver keepalive, plus our poller thread), so connections share it: each
subscription registers an :class:`ImageListener` under a token, and the client, woken through the
binding's eventfd, hands each listener the whole messages of its images and their ends.

Why a poller thread in the binding rather than polling from the event loop: Aeron is polled, and
a loop that polls must either spin (a core at 100% even when idle) or poll on a timer (latency of
the timer's period).  The binding's thread polls without the GIL, backing off from spinning to
yielding to sleeping (1 µs doubling up to ``max_park``) when idle, and the loop only wakes when
messages are waiting, taking them in batches.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from . import _native
from .errors import DriverNotRunningError

logger = logging.getLogger("aiorsocket.aeron")

T = TypeVar("T")

#: Seconds the driver may go without a heartbeat before it counts as gone (Aeron's default).
DRIVER_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class PollerOptions:
    """The binding's poller: how it idles, and how much it buffers for the loop."""

    spins: int = 20
    yields: int = 50
    min_park: float = 1e-6
    max_park: float = 1e-3
    """Longest sleep when idle: the worst extra latency of the first message after a quiet spell."""
    fragment_limit: int = 256
    """Aeron fragments read from one image per pass, so one busy image cannot starve the rest."""
    max_pending: int = 8 * 1024 * 1024
    """Bytes waiting for the loop past which the poller stops reading (Aeron flow control then
    holds the senders back)."""


class ImageListener(Protocol):
    """Whoever reads one subscription; every method runs on the event loop."""

    def image_frames(self, session_id: int, frames: list[memoryview]) -> None:
        """Whole messages from the image (publisher) ``session_id``, in order."""

    def image_ended(self, session_id: int, clean: bool) -> None:
        """The image went away: ``clean`` when its publisher closed, not when it vanished."""

    def client_failed(self, exc: BaseException) -> None:
        """The Aeron client is dead (its driver stopped responding): nothing more will arrive."""


def check_driver(directory: str, timeout: float = DRIVER_TIMEOUT) -> None:
    """Fail fast, with what to do, when no live media driver owns ``directory``."""
    try:
        heartbeat = _native.driver_heartbeat(directory)
    except _native.AeronError as exc:
        raise DriverNotRunningError(str(exc)) from None
    if heartbeat is None:
        raise DriverNotRunningError(
            f"no Aeron media driver is running at {directory} (no cnc.dat there): start one "
            "(`python -m aiorsocket.transports.aeron_client.driver --dir DIR`, or aeronmd as the README "
            "describes) or point AERON_DIR or the URI's ?dir= at the one you run"
        )
    age = time.time() - heartbeat / 1000
    if age > timeout:
        raise DriverNotRunningError(
            f"the Aeron media driver at {directory} is not running: its last heartbeat was {age:.0f} s ago"
        )


class AeronClient:
    """A shared Aeron client; get one with :meth:`acquire`, give it back with :meth:`release`."""

    _clients: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future[AeronClient]] = {}  # noqa: RUF012

    def __init__(self, loop: asyncio.AbstractEventLoop, directory: str, native: _native.Client) -> None:
        self._loop = loop
        self.directory = directory
        self._native = native
        self._users = 0
        self._tokens = itertools.count(1)
        self._listeners: dict[int, ImageListener] = {}
        self._writers: dict[int, Callable[[], None]] = {}
        self.failure: BaseException | None = None
        loop.add_reader(native.fileno(), self._on_readable)

    @classmethod
    async def acquire(cls, directory: str, options: PollerOptions | None = None) -> AeronClient:
        """The loop's client for ``directory``, connecting it first if needed."""
        loop = asyncio.get_running_loop()
        key = (loop, directory)
        pending = cls._clients.get(key)
        if pending is None:
            pending = cls._clients[key] = loop.create_future()
            try:
                client = await cls._connect(loop, directory, options or PollerOptions())
            except BaseException as exc:
                del cls._clients[key]
                pending.set_exception(exc)
                # The waiters (if any) got the exception; retrieve it so nobody logs it unretrieved.
                pending.exception()
                raise
            pending.set_result(client)
        client = await asyncio.shield(pending)
        client.retain()
        return client

    @classmethod
    async def _connect(
        cls, loop: asyncio.AbstractEventLoop, directory: str, options: PollerOptions
    ) -> AeronClient:
        check_driver(directory)
        try:
            # Mapping the driver's files and starting two threads: off the loop (the GIL is released).
            native = await asyncio.to_thread(
                _native.Client,
                directory,
                int(DRIVER_TIMEOUT * 1000),
                options.spins,
                options.yields,
                int(options.min_park * 1e9),
                int(options.max_park * 1e9),
                options.fragment_limit,
                options.max_pending,
            )
        except _native.DriverTimeoutError as exc:
            raise DriverNotRunningError(
                f"the Aeron media driver at {directory} did not answer: {exc}"
            ) from None
        return cls(loop, directory, native)

    def retain(self) -> None:
        """One user more (each connection a listener accepts holds the client, like the listener)."""
        self._users += 1

    def release(self) -> None:
        """One user fewer; the last one closes the client (the driver then frees what it held for it)."""
        self._users -= 1
        if self._users > 0:
            return
        self._unregister()
        if not self._loop.is_closed():
            self._loop.remove_reader(self._native.fileno())
        self._native.close()

    def _unregister(self) -> None:
        key = (self._loop, self.directory)
        pending = self._clients.get(key)
        if (
            pending is not None
            and pending.done()
            and pending.exception() is None
            and pending.result() is self
        ):
            del self._clients[key]

    async def _registered(self, find: Callable[[], T | None], what: str) -> T:
        """Waits for the driver to confirm an add (its conductor answers within milliseconds)."""
        deadline = self._loop.time() + DRIVER_TIMEOUT
        delay = 0.0005
        while True:
            self._raise_if_failed()
            try:
                found = find()
            except _native.DriverTimeoutError as exc:
                raise DriverNotRunningError(
                    f"the Aeron media driver at {self.directory} stopped answering: {exc}"
                ) from None
            if found is not None:
                return found
            if self._loop.time() > deadline:
                raise TimeoutError(f"the Aeron media driver at {self.directory} did not register {what}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.01)

    async def add_publication(self, channel: str, stream_id: int) -> _native.Publication:
        self._raise_if_failed()
        registration = self._native.add_publication(channel, stream_id)
        return await self._registered(lambda: self._native.find_publication(registration), channel)

    async def add_subscription(
        self, channel: str, stream_id: int, listener: ImageListener
    ) -> SubscriptionHandle:
        """Subscribes ``listener``; a :class:`_native.RegistrationError` means the channel was refused
        (an endpoint already bound, for one)."""
        self._raise_if_failed()
        token = next(self._tokens)
        registration = self._native.add_subscription(channel, stream_id, token)
        subscription = await self._registered(
            lambda: self._native.find_subscription(registration, token), channel
        )
        self._listeners[token] = listener
        return SubscriptionHandle(subscription, lambda: self._listeners.pop(token, None))

    def watch_writable(self, publication: _native.Publication, callback: Callable[[], None]) -> int:
        """Calls ``callback`` once the back-pressured ``publication`` takes messages again, or can
        no longer take any (closed, or its subscriber gone); returns a token for :meth:`unwatch`."""
        token = next(self._tokens)
        self._writers[token] = callback
        publication.watch_writable(token)
        return token

    def unwatch(self, token: int) -> None:
        self._writers.pop(token, None)

    def _raise_if_failed(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _on_readable(self) -> None:
        events, errors = self._native.take()
        listeners = self._listeners
        for token, session_id, frames, kind in events:
            if frames is not None:
                listener = listeners.get(token)
                if listener is not None:
                    listener.image_frames(session_id, frames)
            elif kind == _native.WRITABLE:
                writer = self._writers.pop(token, None)
                if writer is not None:
                    writer()
            else:
                listener = listeners.get(token)
                if listener is not None:
                    listener.image_ended(session_id, kind == _native.IMAGE_CLOSED)
        for fatal, message in errors:
            if fatal:
                self._fail(message)
            else:
                logger.warning("Aeron client at %s: %s", self.directory, message)

    def _fail(self, message: str) -> None:
        if self.failure is not None:
            return
        self.failure = DriverNotRunningError(f"the Aeron media driver at {self.directory} failed: {message}")
        self._unregister()  # a later connect gets a fresh client
        for listener in list(self._listeners.values()):
            listener.client_failed(self.failure)


class SubscriptionHandle:
    """A subscription of a shared client: closing it also stops routing its events to its listener."""

    __slots__ = ("_forget", "_native")

    def __init__(self, native: _native.Subscription, forget: Callable[[], object]) -> None:
        self._native = native
        self._forget = forget

    def pause(self, session_id: int) -> None:
        """Stop consuming one image: its publisher is then held back by Aeron's flow control."""
        self._native.pause(session_id)

    def resume(self, session_id: int) -> None:
        self._native.resume(session_id)

    def source_identity(self, session_id: int) -> str | None:
        return self._native.source_identity(session_id)

    def close(self) -> None:
        self._forget()
        self._native.close()
