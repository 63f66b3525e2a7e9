"""Admission control: a hard bound on requests running or queued in this process.

grpcio's own `maximum_concurrent_rpcs` has had real bugs (grpc#41531), so the bound is ours:
a request that would exceed it is refused at once with RESOURCE_EXHAUSTED and a retry hint,
before it has cost any model time.
"""

from __future__ import annotations

import threading

from newsmt.core.errors import Overloaded


class Admission:
    def __init__(self, limit: int, retry_after: float = 0.25) -> None:
        if limit < 1:
            raise ValueError("the admission limit must be at least 1")
        self.limit = limit
        self.retry_after = retry_after
        self._inflight = 0
        self._peak = 0
        self.rejected = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def enter(self) -> None:
        """Take a slot or raise Overloaded."""
        with self._lock:
            if self._inflight >= self.limit:
                self.rejected += 1
                raise Overloaded(
                    f"{self._inflight} requests in flight, the limit is {self.limit}",
                    retry_after=self.retry_after,
                )
            self._inflight += 1
            self._peak = max(self._peak, self._inflight)

    def leave(self) -> None:
        with self._lock:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.notify_all()

    @property
    def inflight(self) -> int:
        with self._lock:
            return self._inflight

    @property
    def peak(self) -> int:
        with self._lock:
            return self._peak

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is in flight (graceful shutdown); False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)
