"""Per-caller rate limits: an in-process token bucket per API key or client IP.

A bucket holds up to one minute's allowance and refills continuously, so a caller may burst up to its
per-minute limit and then proceeds at the steady rate. The state lives in this process only: run one
API process per limit domain, or put a shared limiter in front when scaling out.
"""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # whole seconds until one more request is allowed; 0 when allowed now


@dataclass
class _Bucket:
    tokens: float
    updated: float
    per_minute: int


class RateLimiter:
    """Thread-safe token buckets keyed by caller. `clock` is monotonic seconds (injectable for tests)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_callers: int = 100_000) -> None:
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, caller: str, per_minute: int) -> Decision:
        """Spend one request of `caller`'s allowance if there is one left."""
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        rate = per_minute / 60.0
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(caller)
            if bucket is None or bucket.per_minute != per_minute:
                if len(self._buckets) >= self._max_callers:
                    self._evict(now)
                bucket = _Bucket(tokens=float(per_minute), updated=now, per_minute=per_minute)
                self._buckets[caller] = bucket
            bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return Decision(True, per_minute, math.floor(bucket.tokens), 0)
            wait = (1.0 - bucket.tokens) / rate
            return Decision(False, per_minute, 0, max(1, math.ceil(wait)))

    def _evict(self, now: float) -> None:
        # Full buckets carry no state worth keeping; dropping them bounds memory under many client IPs.
        full = [
            caller
            for caller, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * bucket.per_minute / 60.0 >= bucket.per_minute
        ]
        for caller in full:
            del self._buckets[caller]
        if len(self._buckets) >= self._max_callers:
            # Everyone is mid-burst: forget the oldest half rather than grow without bound.
            oldest = sorted(self._buckets, key=lambda caller: self._buckets[caller].updated)
            for caller in oldest[: len(oldest) // 2]:
                del self._buckets[caller]
