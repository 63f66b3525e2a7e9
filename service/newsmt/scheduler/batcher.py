"""Dynamic batching across concurrent requests, one queue and one worker thread per model.

Requests submit sentences (or summary chunks) as token lists. The worker waits at most
`max_delay` after the oldest item arrived for more work, takes items in arrival order up to a
token budget (`max_batch_tokens`, counted as rows x (longest input + largest output bound):
what a call holds in memory while it decodes), sorts them by length to limit padding, runs one
engine call and routes each result back to its request, in order.

Deadlines and cancellation are honoured before any engine time is spent: work whose deadline
would pass while the queue ahead of it drains is refused on arrival (RESOURCE_EXHAUSTED with
the expected wait as the retry hint), an item whose request was cancelled leaves the queue at
once, and an item whose deadline has passed (or will pass before a typical batch finishes) is
dropped and its request gets DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from newsmt.core.context import RequestContext
from newsmt.core.errors import (
    DeadlineExceeded,
    Internal,
    NewsmtError,
    Overloaded,
    ServiceUnavailable,
)
from newsmt.core.safelog import describe
from newsmt.engines.base import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatcherConfig:
    #: Tokens per engine call, counted as rows x (longest input + largest output bound): the
    #: positions a call keeps in its attention caches, so its memory (an opus-mt model decoding
    #: with beam 4 holds 120-170 KiB a position on CPU: bench/decode_memory.py). A single item always runs.
    max_batch_tokens: int = 1536
    #: Most rows per engine call.
    max_batch_size: int = 64
    #: How long the oldest queued item may wait for company before its batch runs (at most
    #: half the recent engine-call time: a cheap engine does not wait).
    max_delay: float = 0.005
    #: Most items (sentences, chunks) queued per model; more are refused with RESOURCE_EXHAUSTED.
    max_queue: int = 2048
    #: A batch runs as one engine call per group of items whose output bounds are within this
    #: factor (plus 16 tokens) of each other: one long sentence must not make twenty short
    #: ones decode to its length (a model that does not stop, like a demo model, would).
    max_bound_spread: float = 2.0


@dataclass
class BatcherStats:
    """Counters the tests and the metrics read. Updated under the batcher's lock."""

    engine_calls: int = 0
    items_done: int = 0
    generated_tokens: int = 0
    dropped_deadline: int = 0
    dropped_cancelled: int = 0
    rejected_full: int = 0
    #: Refused on arrival: the queue ahead would outlast the request's deadline.
    rejected_late: int = 0
    batch_sizes: list[int] = field(default_factory=list)

    def snapshot(self) -> BatcherStats:
        return BatcherStats(
            self.engine_calls,
            self.items_done,
            self.generated_tokens,
            self.dropped_deadline,
            self.dropped_cancelled,
            self.rejected_full,
            self.rejected_late,
            list(self.batch_sizes[-1000:]),
        )


class _Ticket:
    """One submission: several items that complete together."""

    def __init__(self, size: int, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.results: list[list[str] | None] = [None] * size
        self.remaining = size
        self.error: NewsmtError | None = None
        # Held until the ticket is finished: the submitter's acquire() is the wait. A bare lock
        # is cheaper than an Event, and a thousand tickets a second go through here.
        self._pending = threading.Lock()
        self._pending.acquire()
        self._finished = False
        self._finish_lock = threading.Lock()

    def finish(self) -> None:
        """Wake the submitter (once; later calls do nothing)."""
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
        self._pending.release()

    def wait(self, timeout: float | None) -> bool:
        if timeout is None:
            return self._pending.acquire()
        return self._pending.acquire(timeout=max(0.0, timeout))

    def fail(self, error: NewsmtError) -> None:
        if self.error is None:
            self.error = error
        self.finish()


@dataclass
class _Item:
    ticket: _Ticket
    index: int
    tokens: Sequence[str]
    max_new_tokens: int
    min_new_tokens: int
    enqueued: float


#: Engine calls seen before queue waits are estimated (and late work refused on arrival).
_MIN_HISTORY = 3

#: Queue delays below this are not waited for (an identity or tiny model's half-call).
_MIN_WAIT = 0.0005

#: Called after each engine call: (rows, budget tokens as `max_batch_tokens` counts them,
#: seconds, queue waits, generated tokens).
BatchObserver = Callable[[int, int, float, list[float], int], None]


class Batcher:
    def __init__(
        self,
        engine: Engine,
        config: BatcherConfig | None = None,
        *,
        observer: BatchObserver | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or BatcherConfig()
        self.stats = BatcherStats()
        self._observer = observer
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._running = True
        #: Smoothed seconds per engine call: an item that cannot finish in this is dropped.
        self._batch_seconds = 0.0
        self._thread = threading.Thread(
            target=self._run, name=f"batcher-{engine.name}", daemon=True
        )
        self._thread.start()

    # -- request side ----------------------------------------------------------------------

    def submit(
        self,
        rows: Sequence[Sequence[str]],
        ctx: RequestContext,
        *,
        max_new_tokens: Sequence[int],
        min_new_tokens: int = 0,
    ) -> list[list[str]]:
        """Queue `rows` and block until all are generated. Raises DeadlineExceeded, Cancelled,
        Overloaded (queue full, or so long that the request's deadline would pass before its
        turn) or ServiceUnavailable (batcher stopped)."""
        if not rows:
            return []
        ctx.check()
        ticket = _Ticket(len(rows), ctx)
        now = time.monotonic()
        with self._cond:
            if not self._running:
                raise ServiceUnavailable(f"model {self.engine.name} is shutting down")
            if len(self._queue) + len(rows) > self.config.max_queue:
                self.stats.rejected_full += 1
                raise Overloaded(
                    f"queue for model {self.engine.name} is full",
                    retry_after=max(0.05, self._batch_seconds * 2),
                )
            wait = self._expected_wait_locked()
            remaining = ctx.remaining()
            if remaining is not None and wait > remaining:
                # Queueing it would only spend engine time on an answer nobody waits for, and
                # hold the caller until its deadline: say so now, while it can go elsewhere.
                self.stats.rejected_late += 1
                raise Overloaded(
                    f"model {self.engine.name} is about {wait:.0f}s behind; the request has "
                    f"{max(0.0, remaining):.0f}s left",
                    retry_after=wait,
                )
            for i, tokens in enumerate(rows):
                self._queue.append(_Item(ticket, i, tokens, max_new_tokens[i], min_new_tokens, now))
            self._cond.notify_all()
        remove_hook = ctx.on_cancel(lambda: self._withdraw(ticket, ctx.cancel_error))
        try:
            finished = ticket.wait(ctx.remaining())
            if not finished:
                self._withdraw(ticket, DeadlineExceeded())
            if ticket.error is not None:
                raise ticket.error
            return [r if r is not None else [] for r in ticket.results]
        finally:
            remove_hook()

    def _expected_wait_locked(self) -> float:
        """A low estimate of the seconds before new work gets its turn: the engine calls the
        queue ahead needs at the largest batches seen lately, each at the recent mean call
        time. 0 until there is history."""
        if not self._queue or self.stats.engine_calls < _MIN_HISTORY:
            return 0.0
        rows_per_call = max(self.stats.batch_sizes[-50:], default=1)
        calls_ahead = -(-len(self._queue) // max(1, rows_per_call))
        return calls_ahead * self._batch_seconds

    def _withdraw(self, ticket: _Ticket, error: NewsmtError) -> None:
        """Take a ticket's queued items out of the queue and fail it."""
        with self._cond:
            self._drop_locked(ticket, error)

    def _drop_locked(self, ticket: _Ticket, error: NewsmtError) -> None:
        before = len(self._queue)
        self._queue = deque(item for item in self._queue if item.ticket is not ticket)
        removed = before - len(self._queue)
        if not isinstance(error, DeadlineExceeded):
            self.stats.dropped_cancelled += removed
        else:
            self.stats.dropped_deadline += removed
        ticket.fail(error)

    def queue_depth(self) -> int:
        with self._cond:
            return len(self._queue)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking work, fail what is queued, and let the running batch finish."""
        with self._cond:
            self._running = False
            pending, self._queue = list(self._queue), deque()
            self._cond.notify_all()
        for item in pending:
            item.ticket.fail(ServiceUnavailable("server is shutting down"))
        self._thread.join(timeout)

    # -- worker side -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            for group in self._groups(batch):
                self._execute(group)

    def _next_batch(self) -> list[_Item] | None:
        cfg = self.config
        with self._cond:
            while self._running and not self._queue:
                self._cond.wait()
            if not self._running:
                return None
            # Waiting for company pays only when an engine call is expensive: never wait more
            # than half a typical call (an identity or tiny model then waits next to nothing).
            delay = cfg.max_delay
            if self.stats.engine_calls:
                delay = min(delay, 0.5 * self._batch_seconds)
            flush_at = self._queue[0].enqueued + delay
            # A wait shorter than a thread switch gathers nobody; it only costs the switch.
            while delay >= _MIN_WAIT and self._running and not self._budget_full():
                wait = flush_at - time.monotonic()
                if wait <= 0:
                    break
                self._cond.wait(wait)
            return self._take()

    def _budget_full(self) -> bool:
        cfg = self.config
        if len(self._queue) >= cfg.max_batch_size:
            return True
        longest = bound = 0
        for n, item in enumerate(self._queue, start=1):
            longest = max(longest, len(item.tokens))
            bound = max(bound, item.max_new_tokens)
            if n * (longest + bound) >= cfg.max_batch_tokens:
                return True
        return False

    def _take(self) -> list[_Item]:
        """Pop the next batch in arrival order, dropping dead items. Caller holds the lock."""
        cfg = self.config
        now = time.monotonic()
        batch: list[_Item] = []
        longest = bound = 0
        while self._queue:
            item = self._queue[0]
            ctx = item.ticket.ctx
            if item.ticket.error is not None or ctx.cancelled:
                self._drop_locked(item.ticket, item.ticket.error or ctx.cancel_error)
                continue
            if ctx.deadline is not None and ctx.deadline - now < self._batch_seconds:
                self._drop_locked(item.ticket, DeadlineExceeded())
                continue
            width = max(longest, len(item.tokens))
            reach = max(bound, item.max_new_tokens)
            full = (
                len(batch) >= cfg.max_batch_size
                or (width + reach) * (len(batch) + 1) > cfg.max_batch_tokens
            )
            if batch and full:
                break
            self._queue.popleft()
            batch.append(item)
            longest, bound = width, reach
        return batch

    def _groups(self, batch: list[_Item]) -> list[list[_Item]]:
        """Split a batch into runs of similar output bound, shortest first."""
        batch.sort(key=lambda item: (item.max_new_tokens, len(item.tokens)))
        groups: list[list[_Item]] = []
        for item in batch:
            limit = (
                self.config.max_bound_spread * (groups[-1][0].max_new_tokens if groups else 0) + 16
            )
            if groups and item.max_new_tokens <= limit:
                groups[-1].append(item)
            else:
                groups.append([item])
        return groups

    def _execute(self, batch: list[_Item]) -> None:
        batch.sort(key=lambda item: len(item.tokens))
        started = time.monotonic()
        waits = [started - item.enqueued for item in batch]
        try:
            outputs = self.engine.generate(
                [item.tokens for item in batch],
                max_new_tokens=max(item.max_new_tokens for item in batch),
                min_new_tokens=min(item.min_new_tokens for item in batch),
            )
        except Exception as exc:
            log.error(
                "engine %s failed on a batch of %d: %s", self.engine.name, len(batch), describe(exc)
            )
            for item in batch:
                item.ticket.fail(Internal(f"model {self.engine.name} failed on this input"))
            return
        seconds = time.monotonic() - started
        padded = len(batch) * (
            max(len(item.tokens) for item in batch) + max(item.max_new_tokens for item in batch)
        )
        with self._cond:
            self._batch_seconds = (
                seconds
                if not self.stats.engine_calls
                else (0.8 * self._batch_seconds + 0.2 * seconds)
            )
            self.stats.engine_calls += 1
            self.stats.items_done += len(batch)
            self.stats.generated_tokens += sum(len(o) for o in outputs)
            self.stats.batch_sizes.append(len(batch))
            if len(self.stats.batch_sizes) > 10_000:
                del self.stats.batch_sizes[:5_000]
        finished = []
        with self._cond:
            for item, output in zip(batch, outputs, strict=True):
                ticket = item.ticket
                # The call ran to its largest bound: each row gets only what its own bound
                # would have given it alone.
                ticket.results[item.index] = output[
                    : self.engine.content_limit(item.max_new_tokens)
                ]
                ticket.remaining -= 1
                if ticket.remaining == 0:
                    finished.append(ticket)
        for ticket in finished:
            ticket.finish()
        if self._observer is not None:
            self._observer(len(batch), padded, seconds, waits, sum(len(o) for o in outputs))
