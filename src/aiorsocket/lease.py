"""Leasing for the asyncio RSocket (checklist §3.13).

With leasing on (``connect(uri, lease=...)``, ``serve(handler, uri, lease=...)``) both
sides of a connection are requester and responder, so both honour and grant:

* **Honouring** (LE-2, LE-4, SU-9).  Our requests spend the peer's last LEASE.  Until
  the first one arrives a request waits, for ``first_lease_timeout`` at most; after
  that a request with no lease left fails at once with :class:`MissingLeaseError`
  (a :class:`RejectedError`, guaranteed unsent).  ``RSocket.lease`` shows what is left.
* **Granting** (LE-1, LE-3, LE-5, LE-6).  A :class:`LeaseStrategy` decides what the
  peer may send: :class:`FixedRateLease` grants the same lease every period,
  :class:`InFlightLease` follows how many of the peer's requests are being served.
  Requests beyond what was granted are answered ERROR[REJECTED] unprocessed.

Strategies only ever grant at least one request: a zero lease is legal (LE-3), but
rsocket-js 0.0.27 refuses to build a Lease from one.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .errors import LocalProtocolError, MissingLeaseError
from .frames.types import MAX_U31
from .protocol import Connection, LeaseInfo

logger = logging.getLogger("aiorsocket.lease")

_MAX_TTL = MAX_U31 / 1000

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class LeaseGranter:
    """The granting side of one connection, handed to :meth:`LeaseStrategy.run`."""

    def __init__(self, connection: Connection, flush: Callable[[], None]) -> None:
        self._conn = connection
        self._flush = flush
        self._loop = asyncio.get_running_loop()
        self._in_flight = 0
        self._finished = asyncio.Event()

    def grant(self, requests: int, ttl: float, metadata: bytes | None = None) -> None:
        """Send a LEASE: the peer may make ``requests`` requests in the next ``ttl`` seconds.

        It replaces the previous lease entirely, unused requests included (LE-3).
        """
        if self._conn.send_lease(ttl, requests, metadata, now=self._loop.time()):
            self._flush()

    @property
    def granted(self) -> LeaseInfo | None:
        """Our current lease as it stands now; None before the first grant."""
        lease = self._conn.responder_lease
        return None if lease is None else lease.info(self._loop.time())

    @property
    def in_flight(self) -> int:
        """The peer's requests we are serving now (the handler has not finished)."""
        return self._in_flight

    async def wait_request_finished(self) -> None:
        """Return once one of the peer's requests in flight has finished."""
        await self._finished.wait()

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._in_flight += 1
        task.add_done_callback(self._request_done)

    def _request_done(self, task: asyncio.Task[Any]) -> None:
        self._in_flight -= 1
        # Wakes everyone waiting now; the cleared flag makes the next wait a fresh one.
        self._finished.set()
        self._finished.clear()


class LeaseStrategy(abc.ABC):
    """How a responder grants leases (LE-6: the protocol leaves it to the application).

    One strategy may serve many connections: :meth:`run` is called once per connection
    once leasing is on, and cancelled when the connection ends.
    """

    __slots__ = ()

    @abc.abstractmethod
    async def run(self, granter: LeaseGranter) -> None:
        """Grant leases on one connection with ``granter`` for as long as it lasts."""


def _check_ttl(name: str, seconds: float) -> None:
    if not 0.001 <= seconds <= _MAX_TTL:
        raise LocalProtocolError(f"{name} must be between 0.001 and {_MAX_TTL:.0f} seconds, not {seconds!r}")


@dataclass(frozen=True, slots=True)
class FixedRateLease(LeaseStrategy):
    """Every ``period`` seconds, grant ``requests`` requests for ``ttl`` seconds.

    Each LEASE replaces the last (LE-3), so the peer may make ``requests`` requests per
    period.  The TTL defaults to two periods: a lease that lapsed just before the next one
    arrived would refuse the requests made in between.
    """

    requests: int
    period: float
    ttl: float | None = None
    metadata: bytes | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.requests <= MAX_U31:
            raise LocalProtocolError(f"requests must be 1..2^31-1, not {self.requests}")
        _check_ttl("period", self.period)
        _check_ttl("ttl", self.lease_ttl)

    @property
    def lease_ttl(self) -> float:
        return 2 * self.period if self.ttl is None else self.ttl

    async def run(self, granter: LeaseGranter) -> None:
        ttl = self.lease_ttl
        while True:
            granter.grant(self.requests, ttl, self.metadata)
            await asyncio.sleep(self.period)


@dataclass(frozen=True, slots=True)
class InFlightLease(LeaseStrategy):
    """Let the peer have at most ``max_in_flight`` requests being served at once.

    Each grant is ``max_in_flight`` minus the requests in flight.  Because a new LEASE
    replaces the old one (LE-3), that bound holds however grants and requests interleave.
    It grants again once a quarter of ``max_in_flight`` (at least one) has come free
    beyond what is already granted, and every ``period`` seconds (default: half the
    ``ttl``) so the lease never lapses while the peer is idle.
    """

    max_in_flight: int
    ttl: float = 30.0
    period: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_in_flight <= MAX_U31:
            raise LocalProtocolError(f"max_in_flight must be 1..2^31-1, not {self.max_in_flight}")
        _check_ttl("ttl", self.ttl)
        if self.period is not None:
            _check_ttl("period", self.period)

    async def run(self, granter: LeaseGranter) -> None:
        limit = self.max_in_flight
        period = self.ttl / 2 if self.period is None else self.period
        # Like request-n's replenish threshold: one LEASE per batch of finished requests,
        # not one per request.
        step = max(1, limit // 4)
        loop = asyncio.get_running_loop()
        while True:
            free = limit - granter.in_flight
            if free > 0:
                granter.grant(free, self.ttl)
            deadline = loop.time() + period
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        await granter.wait_request_finished()
                except TimeoutError:
                    break
                granted = granter.granted
                ungranted = limit - granter.in_flight - (granted.remaining if granted is not None else 0)
                if ungranted >= step:
                    break


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    """Leasing for :func:`connect` or :func:`serve`; a bare :class:`LeaseStrategy` there means
    ``LeaseConfig(strategy)``."""

    strategy: LeaseStrategy | None = None
    """What we grant the peer.  None grants nothing, so every request the peer makes is
    refused with REJECTED: enough for a client that only calls a leasing server."""
    first_lease_timeout: float = 10.0
    """Seconds a request of ours waits for the peer's first LEASE (SU-9) before failing with
    :class:`MissingLeaseError`; once a lease has arrived, no request waits."""

    def __post_init__(self) -> None:
        if not self.first_lease_timeout > 0:
            raise LocalProtocolError(
                f"first_lease_timeout must be > 0 seconds, not {self.first_lease_timeout!r}"
            )


def lease_config(value: LeaseConfig | LeaseStrategy | None) -> LeaseConfig | None:
    """The ``lease=`` argument of connect() and serve(), as a LeaseConfig."""
    if isinstance(value, LeaseStrategy):
        return LeaseConfig(value)
    return value


class Leasing:
    """The asyncio side of one connection's leasing, once it is on: the strategy's task,
    requests waiting for the peer's first LEASE, and the count of requests we serve."""

    def __init__(self, config: LeaseConfig, connection: Connection, flush: Callable[[], None]) -> None:
        self.config = config
        self._conn = connection
        self._loop = asyncio.get_running_loop()
        self.granter = LeaseGranter(connection, flush)
        self._first: asyncio.Future[None] = self._loop.create_future()
        self._next: list[asyncio.Future[LeaseInfo]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self, spawn: Spawn) -> None:
        strategy = self.config.strategy
        if strategy is not None:
            self._task = spawn(self._grant(strategy))

    def resumed(self, spawn: Spawn) -> None:
        """The session resumed on a new link (LE-7): wait for the peer's fresh LEASE, and
        grant ours afresh at once by starting the strategy over."""
        if self._first.done():
            self._first = self._loop.create_future()
        if self._task is not None:
            self._task.cancel()
        self.start(spawn)

    async def _grant(self, strategy: LeaseStrategy) -> None:
        try:
            await strategy.run(self.granter)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The connection goes on; the peer's requests fail with REJECTED once the lease lapses.
            logger.exception("lease strategy %r failed: no more leases on this connection", strategy)

    @property
    def received(self) -> bool:
        """Whether the peer has sent its first LEASE."""
        return self._first.done()

    @property
    def lease(self) -> LeaseInfo | None:
        lease = self._conn.requester_lease
        return None if lease is None else lease.info(self._loop.time())

    async def wait_first(self) -> None:
        """Wait (bounded) for the peer's first LEASE before a request (SU-9)."""
        first = self._first
        if first.done():
            return
        timeout = self.config.first_lease_timeout
        try:
            async with asyncio.timeout(timeout):
                # Shielded: one request giving up must not cancel the wait of the others.
                await asyncio.shield(first)
        except TimeoutError:
            raise MissingLeaseError(
                f"lease missing: the peer sent no LEASE within {timeout:g} s (SU-9)"
            ) from None

    async def wait_next(self) -> LeaseInfo:
        waiter: asyncio.Future[LeaseInfo] = self._loop.create_future()
        self._next.append(waiter)
        try:
            return await waiter
        finally:
            if waiter in self._next:
                self._next.remove(waiter)

    def track(self, task: asyncio.Task[Any]) -> None:
        """Count a request of the peer's as in flight until ``task`` (its handler) is done."""
        self.granter._track(task)

    def lease_received(self) -> None:
        if not self._first.done():
            self._first.set_result(None)
        info = self.lease
        assert info is not None
        waiters, self._next = self._next, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(info)

    def close(self, error: BaseException) -> None:
        if not self._first.done():
            self._first.set_exception(error)
            self._first.exception()  # retrieved: no request may be waiting
        waiters, self._next = self._next, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)


__all__ = [
    "FixedRateLease",
    "InFlightLease",
    "LeaseConfig",
    "LeaseGranter",
    "LeaseStrategy",
    "Leasing",
    "lease_config",
]
