"""Per-key rate limiting (token buckets) and a global concurrency limit; both refuse at once instead of queueing."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute on average, bursts up to ``burst``."""

    def __init__(
        self, per_minute: float, *, burst: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, per_minute: float | None = None) -> float:
        """Take one token for ``key``; 0 when allowed, else the seconds to wait before retrying."""
        rate = self.per_minute if per_minute is None else per_minute
        if rate <= 0:
            return 0.0
        capacity = float(self.burst or max(1, math.ceil(rate / 6)))  # default burst: ten seconds' worth
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(capacity, now))
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate / 60)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) * 60 / rate


class ConcurrencyLimiter:
    """At most ``limit`` requests in flight (0: unlimited)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take a slot if one is free."""
        with self._lock:
            if self.limit and self.in_flight >= self.limit:
                return False
            self.in_flight += 1
            return True

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self.in_flight -= 1
