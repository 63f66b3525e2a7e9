"""Per-request deadline and cancellation, carried from the RPC edge down to the scheduler."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from newsmt.core.errors import Cancelled, DeadlineExceeded, NewsmtError


class RequestContext:
    """What every layer needs to know about the request it works for.

    The servicer makes one per RPC from the gRPC context; tests and the CLI make their own.
    Article text never goes in here: `request_id` and `method` are what logs may carry.
    """

    def __init__(
        self,
        *,
        timeout: float | None = None,
        request_id: str = "",
        method: str = "",
    ) -> None:
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.request_id = request_id
        self.method = method
        #: Set once, under the lock; read without it (a bool read is atomic).
        self._cancelled = False
        #: Why it was cancelled: the caller hung up (Cancelled), or the server is stopping.
        self.cancel_error: NewsmtError = Cancelled()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def child(self) -> RequestContext:
        """A context for part of this request's work: the same deadline and ids, cancelled
        with this one, and cancellable on its own (withdrawing that part alone)."""
        part = RequestContext(request_id=self.request_id, method=self.method)
        part.deadline = self.deadline
        self.on_cancel(lambda: part.cancel(self.cancel_error))
        return part

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when there is none."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self, error: NewsmtError | None = None) -> None:
        """Mark the request cancelled and run the cancel callbacks once."""
        with self._lock:
            if self._cancelled:
                return
            if error is not None:
                self.cancel_error = error
            self._cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` on cancellation (at once if already cancelled). Returns a remover."""
        with self._lock:
            if not self._cancelled:
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return lambda: None

    def _remove(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def check(self) -> None:
        """Raise if the request was cancelled or its deadline has passed."""
        if self._cancelled:
            raise self.cancel_error
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded()
