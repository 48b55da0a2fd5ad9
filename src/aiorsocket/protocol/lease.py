"""Lease bookkeeping for one direction of a connection (checklist §3.13).

A connection that negotiated leasing (SETUP with L, SU-9) keeps two trackers:
the lease the peer granted us, which bounds our requests (LE-4), and the lease
we granted the peer, which bounds the requests we serve (LE-5).  Both work the
same way, so one class serves both.  Times are seconds on the caller's clock;
nothing here reads one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class LeaseStatus(Enum):
    """Whether a lease pays for one more request, and if not, why."""

    VALID = "valid"
    MISSING = "missing"
    """No LEASE yet: requests wait for one (SU-9) or are refused (LE-5)."""
    EXPIRED = "expired"
    """The TTL ran out (LE-2), or the LEASE granted 0 ms (LE-3)."""
    EXHAUSTED = "exhausted"
    """Every request the LEASE allowed is used (LE-4), or it allowed none (LE-3)."""


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """A lease as it stands at one moment, for the application to look at."""

    allowed: int
    """The number of requests the LEASE granted."""
    remaining: int
    """How many of them are left; 0 once the lease has expired (LE-2)."""
    ttl: float
    """Seconds the LEASE was valid for."""
    expires_at: float
    """When it expires, on the clock the connection is driven with (the event loop's)."""
    metadata: bytes | None


class LeaseTracker:
    """The current lease in one direction: a new LEASE replaces it entirely (LE-3)."""

    __slots__ = ("allowed", "expires_at", "metadata", "remaining", "ttl")

    def __init__(self) -> None:
        self.allowed = 0
        self.remaining = 0
        self.ttl = 0.0
        self.expires_at: float | None = None
        """None until the first LEASE."""
        self.metadata: bytes | None = None

    def replace(self, ttl_ms: int, number_of_requests: int, metadata: bytes | None, now: float) -> None:
        """Take a LEASE sent or received at ``now``: its TTL runs from then (LE-2).

        Zero values are accepted and stop all new requests (LE-3, D-5).
        """
        self.allowed = self.remaining = number_of_requests
        self.ttl = ttl_ms / 1000
        self.expires_at = now + self.ttl
        self.metadata = metadata

    def status(self, now: float) -> LeaseStatus:
        expires_at = self.expires_at
        if expires_at is None:
            return LeaseStatus.MISSING
        # Expired at the instant itself, as rsocket-java's trackers judge it.
        if now >= expires_at:
            return LeaseStatus.EXPIRED
        if self.remaining <= 0:
            return LeaseStatus.EXHAUSTED
        return LeaseStatus.VALID

    def use(self) -> None:
        """Spend one request; only after :meth:`status` said VALID."""
        self.remaining -= 1

    def info(self, now: float) -> LeaseInfo | None:
        """The lease as it stands at ``now``; None before the first LEASE."""
        expires_at = self.expires_at
        if expires_at is None:
            return None
        remaining = self.remaining if now < expires_at else 0
        return LeaseInfo(self.allowed, remaining, self.ttl, expires_at, self.metadata)

    def describe(self, status: LeaseStatus, now: float, *, granted_by_peer: bool) -> str:
        """Why a request cannot go (``status`` is not VALID); the first words name the reason."""
        granter = "the peer" if granted_by_peer else "we"
        if status is LeaseStatus.MISSING:
            return f"lease missing: {granter} sent no LEASE yet"
        terms = f"{granter} granted {self.allowed} requests for {round(self.ttl * 1000)} ms"
        if status is LeaseStatus.EXPIRED:
            assert self.expires_at is not None
            return f"lease expired {now - self.expires_at:.3f} s ago: {terms}"
        return f"lease exhausted: {terms}, all used"
