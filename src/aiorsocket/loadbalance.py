"""The load-balanced client: one requester over a pool of servers, in the spirit of rsocket-java's
``LoadbalanceRSocketClient``.

Each target (a server URI) has its own :class:`ReconnectingRSocket`: a target
whose connection is lost or refused leaves the rotation at once and is tried
again with the pool's backoff policy until it answers.  A strategy picks one
of the connected targets for each request:

* :class:`RoundRobin`: each connected target in turn;
* :class:`WeightedLeastOutstanding`: the power of two random choices, where
  the lighter target wins, weighing outstanding requests by predicted latency
  and recent availability (rsocket-java's ``WeightedLoadbalanceStrategy``).

A request goes to another target only when the server provably did not
process it: nothing was written (no target was connected, or the chosen one
was found closed), the server answered REJECTED, or the connection's SETUP
was refused.  A request lost with its connection after it was written fails
with :class:`ConnectionLostError`, since running it twice could be worse.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Final, Protocol, TypeVar

from .backoff import ReconnectPolicy
from .client import connect
from .errors import ConnectionCloseError, ConnectionError, ConnectionLostError, RejectedError, SetupError
from .payload import Payload
from .reconnect import (
    ClientState,
    DeferredRequester,
    ReconnectingRSocket,
    StateChange,
    StreamOpener,
)
from .session import RequestStream, RSocket

logger = logging.getLogger("aiorsocket.loadbalance")

_T = TypeVar("_T")

#: Weight of the newest sample in a target's latency and availability averages.
EWMA_WEIGHT: Final = 0.2

TargetConnector = Callable[[str], Awaitable[RSocket]]
TargetCallback = Callable[[str, StateChange], None]


class Target:
    """One server of the pool, and what the strategies weigh it by."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.outstanding = 0
        """Requests and streams started here and not finished."""
        self.requests = 0
        """Requests and streams ever started here."""
        self.connection_failures = 0
        """Requests lost with their connection."""
        self.latency: float | None = None
        """Moving average of request/response round trips, in seconds; None before the first."""
        self.sampled_at = 0.0
        """``time.monotonic()`` of the latest round trip."""
        self.availability = 1.0
        """Moving average of answered (1) versus lost-with-the-connection (0) requests."""
        self.removed = False
        self.client: ReconnectingRSocket | None = None

    @property
    def state(self) -> ClientState:
        return ClientState.CONNECTING if self.client is None else self.client.state

    def _begin(self) -> None:
        self.outstanding += 1
        self.requests += 1

    def _answered(self, latency: float | None) -> None:
        self.outstanding -= 1
        self.availability += EWMA_WEIGHT * (1.0 - self.availability)
        if latency is not None:
            previous = self.latency
            self.latency = latency if previous is None else previous + EWMA_WEIGHT * (latency - previous)
            self.sampled_at = time.monotonic()

    def _lost(self) -> None:
        self.outstanding -= 1
        self.connection_failures += 1
        self.availability -= EWMA_WEIGHT * self.availability

    def __repr__(self) -> str:
        return (
            f"Target({self.uri!r}, {self.state.value}, outstanding={self.outstanding}, "
            f"requests={self.requests}, latency={self.latency}, availability={self.availability:.2f})"
        )


class LoadBalanceStrategy(Protocol):
    def select(self, candidates: Sequence[Target]) -> Target:
        """Pick one of ``candidates`` (never empty; all connected) for the next request."""


class RoundRobin:
    """Each connected target in turn."""

    def __init__(self) -> None:
        self._next = 0

    def select(self, candidates: Sequence[Target]) -> Target:
        target = candidates[self._next % len(candidates)]
        self._next += 1
        return target


class WeightedLeastOutstanding:
    """The lighter of two targets drawn at random.

    A target's load is ``(outstanding + 1) * latency / availability``: requests in
    flight, weighed by how long it has been taking to answer and by how often its
    connection failed lately.  A target without a latency sample yet is assumed as
    fast as the fastest known one, so that a new or returning server gets tried.
    Two random choices rather than the global minimum keep many clients from all
    rushing to the same idle server (rsocket-java does the same).

    A latency estimate fades by a factor e every ``decay`` seconds without a new
    answer (as in Finagle's and tower's peak-EWMA balancers): otherwise a target
    that answered slowly once would never be chosen again, and never measured again.
    """

    def __init__(self, *, decay: float = 1.0, rng: random.Random | None = None) -> None:
        if not decay > 0:
            raise ValueError(f"decay must be > 0 seconds, not {decay}")
        self._decay = decay
        self._rng = rng if rng is not None else random.Random()

    def select(self, candidates: Sequence[Target]) -> Target:
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) == 2:
            first, second = candidates
        else:
            first, second = self._rng.sample(list(candidates), 2)
        now = time.monotonic()
        known = [latency for t in candidates if (latency := self._latency(t, now)) is not None]
        fallback = min(known) if known else 1.0
        return first if self._load(first, now, fallback) <= self._load(second, now, fallback) else second

    def _latency(self, target: Target, now: float) -> float | None:
        if target.latency is None:
            return None
        return target.latency * math.exp(-max(0.0, now - target.sampled_at) / self._decay)

    def _load(self, target: Target, now: float, fallback: float) -> float:
        latency = self._latency(target, now)
        if latency is None:
            latency = fallback
        return (target.outstanding + 1) * max(latency, 1e-6) / max(target.availability, 1e-3)


def _default_connector(uri: str) -> Awaitable[RSocket]:
    return connect(uri)


class LoadBalancedRSocket(DeferredRequester):
    """A requester over a pool of servers (see the module docstring).

    ``connector(uri)`` opens one connection (default ``aiorsocket.connect(uri)``;
    pass a lambda to set MIME types, setup payload, TLS...).  ``reconnect`` is the
    backoff for failed targets (default: from 0.1 s up to 5 s, forever); a target
    whose policy gives up leaves the pool.  ``on_target_change(uri, change)``
    hears every target's state changes.  Requests wait while no target is
    connected; bound them with ``asyncio.timeout`` if that must not last.

    Use it as an async context manager, or :meth:`start` it and :meth:`aclose` it.
    """

    def __init__(
        self,
        targets: Iterable[str],
        *,
        strategy: LoadBalanceStrategy | None = None,
        connector: TargetConnector | None = None,
        reconnect: ReconnectPolicy | None = None,
        on_target_change: TargetCallback | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._strategy = strategy if strategy is not None else RoundRobin()
        self._connector = connector if connector is not None else _default_connector
        self._policy = reconnect if reconnect is not None else ReconnectPolicy(max_backoff=5.0)
        self._on_target_change = on_target_change
        self._targets: dict[str, Target] = {}
        self._initial = list(dict.fromkeys(targets))
        # Resolved, and replaced, whenever a target's state changes or the pool does.
        self._changed: asyncio.Future[None] = self._loop.create_future()
        self._started = False
        self._closed = False
        self._clients: list[ReconnectingRSocket] = []
        self._done: asyncio.Future[None] = self._loop.create_future()
        self.retried = 0
        """Requests sent to another target after one provably did not process them."""

    def start(self) -> None:
        """Start connecting to every target (in the background)."""
        if not self._started:
            self._started = True
            for uri in self._initial:
                self.add_target(uri)

    # ------------------------------------------------------------------ the pool

    @property
    def targets(self) -> list[Target]:
        """Every target in the pool, in the order they were added."""
        return list(self._targets.values())

    def add_target(self, uri: str) -> None:
        """Add ``uri`` to the pool (no-op if present); it takes requests once connected."""
        self._check_open()
        if uri in self._targets:
            return
        target = self._targets[uri] = Target(uri)
        client = target.client = ReconnectingRSocket(
            lambda: self._connector(uri),
            self._policy,
            on_state_change=lambda change: self._target_changed(target, change),
            name=uri,
        )
        client.start()
        self._clients.append(client)
        self._pulse()

    def remove_target(self, uri: str) -> None:
        """Stop sending new requests to ``uri``; its connection closes once its open requests finish."""
        target = self._targets.pop(uri, None)
        if target is None:
            return
        target.removed = True
        self._release(target)
        self._pulse()

    def set_targets(self, uris: Iterable[str]) -> None:
        """Make the pool exactly ``uris``: add the new ones, remove the rest."""
        wanted = list(dict.fromkeys(uris))
        for uri in [uri for uri in self._targets if uri not in wanted]:
            self.remove_target(uri)
        for uri in wanted:
            self.add_target(uri)

    async def wait_targets(self, count: int = 1) -> None:
        """Wait until at least ``count`` targets are connected."""
        while sum(1 for t in self._targets.values() if t.state is ClientState.CONNECTED) < count:
            self._check_open()
            await asyncio.shield(self._changed)

    def _target_changed(self, target: Target, change: StateChange) -> None:
        if change.state is ClientState.CLOSED and not self._closed:
            # Removed and drained, or its policy gave up: either way it is gone for good.
            if target.client in self._clients:
                self._clients.remove(target.client)
            if not target.removed:
                logger.warning("%s left the pool: %r", target.uri, change.error)
                self._targets.pop(target.uri, None)
        if self._on_target_change is not None:
            try:
                self._on_target_change(target.uri, change)
            except Exception:
                logger.exception("on_target_change callback failed")
        self._pulse()

    def _pulse(self) -> None:
        changed, self._changed = self._changed, self._loop.create_future()
        changed.set_result(None)

    def _release(self, target: Target) -> None:
        if target.removed and target.outstanding == 0 and target.client is not None:
            target.client.close()

    # ------------------------------------------------------------------ choosing a target

    def _connected(self, exclude: set[Target]) -> tuple[list[Target], dict[Target, RSocket]]:
        candidates: list[Target] = []
        live: dict[Target, RSocket] = {}
        for target in self._targets.values():
            if target in exclude or target.client is None:
                continue
            rsocket = target.client.current
            if rsocket is not None:
                candidates.append(target)
                live[target] = rsocket
        return candidates, live

    async def _pick(self, tried: set[Target], refusal: BaseException | None) -> tuple[Target, RSocket]:
        """A connected target not yet tried; after a refusal, only one connected right now."""
        while True:
            self._check_open()
            candidates, live = self._connected(tried)
            if candidates:
                target = self._strategy.select(candidates)
                return target, live[target]
            if refusal is not None:
                raise refusal
            await asyncio.shield(self._changed)

    @staticmethod
    def _never_processed(exc: BaseException) -> bool:
        return isinstance(exc, RejectedError | SetupError)

    @staticmethod
    def _account(target: Target, error: BaseException | None, latency: float | None = None) -> None:
        if isinstance(error, ConnectionLostError | ConnectionError | ConnectionCloseError | SetupError):
            target._lost()
        else:
            target._answered(latency)

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionLostError("the load-balanced client is closed")

    # ------------------------------------------------------------------ requester API

    async def _call(self, operation: Callable[[RSocket], Awaitable[_T]], *, answered: bool) -> _T:
        tried: set[Target] = set()
        refusal: BaseException | None = None
        while True:
            target, rsocket = await self._pick(tried, refusal)
            target._begin()
            started = self._loop.time()
            try:
                result = await operation(rsocket)
            except BaseException as exc:
                self._account(target, exc)
                self._release(target)
                if not self._never_processed(exc):
                    raise
                tried.add(target)
                refusal = exc
                self.retried += 1
                continue
            self._account(target, None, self._loop.time() - started if answered else None)
            self._release(target)
            return result

    async def request_response(self, payload: Payload) -> Payload:
        return await self._call(lambda rsocket: rsocket.request_response(payload), answered=True)

    async def fire_and_forget(self, payload: Payload) -> None:
        await self._call(lambda rsocket: rsocket.fire_and_forget(payload), answered=False)

    async def metadata_push(self, metadata: bytes) -> None:
        """Push to one target, as rsocket-java's load balancer does."""
        await self._call(lambda rsocket: rsocket.metadata_push(metadata), answered=False)

    def _opener(self, open_on: Callable[[RSocket], RequestStream], *, reopenable: bool) -> StreamOpener:
        return _PoolOpener(self, open_on, reopenable=reopenable)

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close every target; open requests fail with ConnectionLostError."""
        if self._closed:
            return
        self._closed = True
        for client in self._clients:
            client.close()
        self._done.set_result(None)
        self._pulse()

    async def aclose(self) -> None:
        """Close, and wait until every target's connection has released its transport."""
        self.close()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._done)
        await asyncio.gather(*(client.aclose() for client in self._clients))

    async def __aenter__(self) -> LoadBalancedRSocket:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _PoolOpener:
    def __init__(
        self,
        pool: LoadBalancedRSocket,
        open_on: Callable[[RSocket], RequestStream],
        *,
        reopenable: bool,
    ) -> None:
        self._pool = pool
        self._open_on = open_on
        self._reopenable = reopenable
        self._target: Target | None = None
        self._tried: set[Target] = set()
        self._refusal: BaseException | None = None

    def _open(self, target: Target, rsocket: RSocket) -> RequestStream:
        stream = self._open_on(rsocket)
        self._target = target
        target._begin()
        return stream

    def open_now(self) -> RequestStream | None:
        candidates, live = self._pool._connected(self._tried)
        if not candidates:
            return None
        target = self._pool._strategy.select(candidates)
        return self._open(target, live[target])

    async def open(self) -> RequestStream:
        target, rsocket = await self._pool._pick(self._tried, self._refusal)
        return self._open(target, rsocket)

    def failed_before_first(self, exc: BaseException) -> bool:
        target = self._target
        if not self._reopenable or target is None or not self._pool._never_processed(exc):
            return False
        self._tried.add(target)
        self._refusal = exc
        self._pool.retried += 1
        return True

    def release(self, error: BaseException | None) -> None:
        target, self._target = self._target, None
        if target is not None:
            self._pool._account(target, error)
            self._pool._release(target)


__all__ = [
    "LoadBalanceStrategy",
    "LoadBalancedRSocket",
    "RoundRobin",
    "Target",
    "TargetCallback",
    "TargetConnector",
    "WeightedLeastOutstanding",
]
