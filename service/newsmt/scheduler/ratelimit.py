"""Per-client rate limits: a token bucket per caller, so one abusive client gets
RESOURCE_EXHAUSTED while the others keep their latency."""

from __future__ import annotations

import threading
import time

from newsmt.core.errors import Overloaded


class RateLimiter:
    """`rate` requests per second per client on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Spend one token of `client`'s bucket or raise Overloaded with the wait."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                raise Overloaded(
                    "rate limit exceeded for this client", retry_after=(1.0 - tokens) / self.rate
                )
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_clients:
                self._evict(now)

    def _evict(self, now: float) -> None:
        """Forget clients whose buckets have refilled (they are indistinguishable from new)."""
        full_after = self.burst / self.rate
        for client, (_, stamp) in list(self._buckets.items()):
            if now - stamp > full_after:
                del self._buckets[client]
