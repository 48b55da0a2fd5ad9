"""How long to wait between attempts to reach a server again: exponential backoff with jitter.

Shared by the reconnecting client and by resumption, which both retry a lost link.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How a lost connection is re-established.

    Attempt *n* of a reconnect round waits ``initial_backoff * multiplier**(n-1)``
    seconds, capped at ``max_backoff``, each delay spread by up to ``jitter``
    (a fraction) either way so that many clients do not return in step.  The
    round starts over once a connection has been established.  ``max_attempts``
    consecutive failures close the client for good (None: retry until
    :meth:`ReconnectingRSocket.close`).  ``connect_timeout`` bounds one attempt.
    """

    initial_backoff: float = 0.1
    max_backoff: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None
    connect_timeout: float | None = 10.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.initial_backoff) and self.initial_backoff >= 0):
            raise ValueError(f"initial_backoff must be >= 0 seconds, not {self.initial_backoff}")
        if not (math.isfinite(self.max_backoff) and self.max_backoff >= self.initial_backoff):
            raise ValueError(
                f"max_backoff must be >= initial_backoff ({self.initial_backoff}), not {self.max_backoff}"
            )
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise ValueError(f"multiplier must be >= 1, not {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be a fraction in 0..1, not {self.jitter}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1 or None (forever), not {self.max_attempts}")
        if self.connect_timeout is not None and not self.connect_timeout > 0:
            raise ValueError(f"connect_timeout must be > 0 seconds or None, not {self.connect_timeout}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt number ``attempt`` (from 1) of a reconnect round."""
        try:
            base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        except OverflowError:
            base = self.max_backoff
        spread = base * self.jitter
        return min(self.max_backoff, max(0.0, base + rng.uniform(-spread, spread)))
