"""Dynamic batching across concurrent requests: one queue per model, and as many worker
threads as the engine runs calls at once (`Engine.parallel_calls`, CTranslate2's workers).

Requests submit sentences (or summary chunks) as token lists. The worker waits for more work
while it keeps arriving: until none has arrived for `quiet`, the oldest item has waited
`max_delay`, or the queue fills a call for every idle worker. Then it takes items in arrival
order (at most `max_batch_size`), splits them into engine calls of similar output bound, each
call within the token budget (`max_batch_tokens`, counted as rows x (longest input + largest
output bound): what a call holds in memory while it decodes), and runs ONE of those calls:
among the calls holding the oldest work, the one with the lowest-ranked row (a stream's
earlier units rank lower than its later ones; everything else ranks 0), shortest bound first
(`next_call`). Everything else goes back to the front of the queue and is planned again
after the call, together with what arrived meanwhile: under load, a request that comes back
while a call decodes joins the next call of its length instead of waiting for a whole
pre-planned batch to drain. Each call's rows are sorted by length to limit padding, and each
result is routed back to its request, in order.

With several workers, a worker that takes work while others are idle takes only its share of
the queue (the queue divided among the idle workers), so that what arrived together decodes in
parallel instead of as one call while the other workers wait. The token budget is per call:
the memory decoding holds is up to `parallel_calls` times one call's.

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
from typing import Protocol, TypeVar

from newsmt.core.context import RequestContext
from newsmt.core.errors import (
    DeadlineExceeded,
    Internal,
    NewsmtError,
    Overloaded,
    ServiceUnavailable,
)
from newsmt.core.safelog import describe
from newsmt.engines.base import Engine, Generated

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatcherConfig:
    #: Tokens per engine call, counted as rows x (longest input + largest output bound): the
    #: positions a call keeps in its attention caches, so its memory (the cost of a position is
    #: in the --max-batch-tokens help, from bench/decode_memory.py). A single item always runs.
    max_batch_tokens: int = 1536
    #: Most rows per engine call.
    max_batch_size: int = 64
    #: How long the oldest queued item may wait for company before its batch runs (at most
    #: half the recent engine-call time: a cheap engine does not wait).
    max_delay: float = 0.005
    #: Within `max_delay`, the batch stops waiting once no new work has arrived for this long:
    #: a lone request waits just this, while a burst still arriving is gathered whole. None:
    #: `max_delay` (the oldest item always waits all of it).
    quiet: float | None = None
    #: Most items (sentences, chunks) queued per model; more are refused with RESOURCE_EXHAUSTED.
    max_queue: int = 2048
    #: A batch runs as one engine call per group of items whose output bounds are within this
    #: factor (plus 16 tokens) of each other: one long sentence must not make twenty short
    #: ones decode to its length (a model that does not stop, like a demo model, would).
    max_bound_spread: float = 2.0


# -- the arithmetic, as pure functions (the bench and the tests call them too) -----------------


def batch_tokens(rows: int, longest_input: int, largest_bound: int) -> int:
    """What `max_batch_tokens` counts for an engine call: rows x (longest input + largest
    output bound), the positions it holds in its attention caches while it decodes."""
    return rows * (longest_input + largest_bound)


def budget_full(rows: int, longest_input: int, largest_bound: int, config: BatcherConfig) -> bool:
    """True when `rows` queued items (with these maxima) already fill one engine call.

    The count grows with every item added in arrival order (each factor is a running maximum),
    so checking the whole queue answers "does some prefix of it fill a call" too."""
    return (
        rows >= config.max_batch_size
        or batch_tokens(rows, longest_input, largest_bound) >= config.max_batch_tokens
    )


class Row(Protocol):
    """What grouping needs of a queued item."""

    @property
    def tokens(self) -> Sequence[str]: ...

    @property
    def max_new_tokens(self) -> int: ...


R = TypeVar("R", bound=Row)


def group_by_bound(rows: Sequence[R], max_bound_spread: float) -> list[list[R]]:
    """Split a batch into runs of similar output bound, shortest first: each run becomes one
    engine call, so that one long sentence does not make twenty short ones decode to its
    length. A row joins the current run while its bound is within `max_bound_spread` times the
    run's first bound, plus 16 tokens."""
    ordered = sorted(rows, key=lambda row: (row.max_new_tokens, len(row.tokens)))
    groups: list[list[R]] = []
    for row in ordered:
        if groups and row.max_new_tokens <= max_bound_spread * groups[-1][0].max_new_tokens + 16:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def plan_calls(rows: Sequence[R], config: BatcherConfig) -> tuple[list[list[R]], list[R]]:
    """The engine calls for rows taken in arrival order, and the rows left for the next batch.

    The rows are split by output bound (`group_by_bound`); then each group, in arrival order,
    keeps every row that fits its own call's token budget (`batch_tokens` of that call, not of
    the whole batch: a long sentence in one call must not shrink the call of the short ones
    beside it). A group's earliest row always runs, so nothing waits forever. The left rows
    come back in arrival order."""
    order = {id(row): i for i, row in enumerate(rows)}
    calls: list[list[R]] = []
    left: list[R] = []
    # Rows asking for alternatives (more hypotheses) never share a call with those that do
    # not: a wider beam would change the others' outputs.
    by_hypotheses: dict[int, list[R]] = {}
    for row in rows:
        by_hypotheses.setdefault(getattr(row, "hypotheses", 1), []).append(row)
    groups = [
        group
        for kind in by_hypotheses.values()
        for group in group_by_bound(kind, config.max_bound_spread)
    ]
    for group in groups:
        call: list[R] = []
        longest = bound = 0
        for row in sorted(group, key=lambda r: order[id(r)]):
            width = max(longest, len(row.tokens))
            reach = max(bound, row.max_new_tokens)
            if call and batch_tokens(len(call) + 1, width, reach) > config.max_batch_tokens:
                left.append(row)
                continue
            call.append(row)
            longest, bound = width, reach
        calls.append(call)
    left.sort(key=lambda r: order[id(r)])
    return calls, left


class Timed(Row, Protocol):
    """A queued row with its arrival time (`time.monotonic()`) and its rank (lower goes
    first among what arrived together: a stream's position of the row's submission)."""

    @property
    def enqueued(self) -> float: ...

    @property
    def rank(self) -> int: ...


T = TypeVar("T", bound=Timed)


def next_call(rows: Sequence[T], config: BatcherConfig) -> tuple[list[T], list[T]]:
    """The one engine call to run now for rows taken in arrival order, and the rows that go
    back to the queue (in arrival order) to be planned again after it.

    The calls are `plan_calls`'s. Those that may run hold a row of the oldest cohort: the
    oldest row and whatever arrived within `max_delay` of it (the rows a batch would have
    gathered together). So work is served oldest first, and nothing waits forever behind a
    stream of newer rows. Of those, the one chosen holds the lowest rank (a stream's earlier
    units before its later ones, so that they come out in the order it sends them), and among
    equal ranks it is the first in shortest-bound-first order: within what arrived together,
    short sentences do not wait behind long ones."""
    if not rows:
        return [], []
    calls, _ = plan_calls(rows, config)
    cohort = min(row.enqueued for row in rows) + config.max_delay
    runnable = [c for c in calls if any(row.enqueued <= cohort for row in c)]
    # min() keeps the first of equal keys: the shortest bound among the lowest rank.
    chosen = min(runnable, key=lambda call: min(row.rank for row in call))
    taken = {id(row) for row in chosen}
    return chosen, [row for row in rows if id(row) not in taken]


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

    def __init__(
        self, size: int, ctx: RequestContext, on_engine: Callable[[], None] | None = None
    ) -> None:
        self.ctx = ctx
        #: Called once when the first of its items enters an engine call (then set to None).
        self.on_engine = on_engine
        self.results: list[Generated | None] = [None] * size
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
    with_attention: bool = False
    rank: int = 0
    #: Hypotheses asked for (the best and the alternatives): rows that differ never share a
    #: call, since more hypotheses may widen the beam.
    hypotheses: int = 1


#: How often a wave waiting for room in the queue checks its request's cancellation.
_ROOM_POLL = 0.1

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
        #: Longest input and largest output bound in the queue, kept as items arrive; after a
        #: removal they are recomputed once, on the next budget check.
        self._queue_longest = 0
        self._queue_bound = 0
        self._queue_maxima_stale = False
        #: When work last arrived (`time.monotonic()`).
        self._last_arrival = 0.0
        self._cond = threading.Condition()
        self._running = True
        #: Smoothed seconds per engine call: an item that cannot finish in this is dropped.
        self._batch_seconds = 0.0
        #: Engine calls that may run at once, and those running now.
        self.workers = max(1, engine.parallel_calls)
        self._busy = 0
        #: Submitters waiting for room in the queue (`_wait_for_room_locked`).
        self._room_waiters = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"batcher-{engine.name}-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    # -- request side ----------------------------------------------------------------------

    def submit(
        self,
        rows: Sequence[Sequence[str]],
        ctx: RequestContext,
        *,
        max_new_tokens: Sequence[int],
        min_new_tokens: int = 0,
    ) -> list[list[str]]:
        """Queue `rows` and block until all are generated: the output tokens of each row.
        Raises DeadlineExceeded, Cancelled, Overloaded (queue full, or so long that the
        request's deadline would pass before its turn) or ServiceUnavailable (stopped)."""
        done = self.submit_full(
            rows, ctx, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens
        )
        return [g.tokens for g in done]

    def submit_full(
        self,
        rows: Sequence[Sequence[str]],
        ctx: RequestContext,
        *,
        max_new_tokens: Sequence[int],
        min_new_tokens: int = 0,
        with_attention: bool = False,
        rank: int = 0,
        on_engine: Callable[[], None] | None = None,
        hypotheses: int = 1,
    ) -> list[Generated]:
        """As `submit`, with each row's log-probability and, with `with_attention`, its
        alignment weights (an engine call computes them when any of its rows asks), and with
        `hypotheses` > 1 its next best hypotheses (`Generated.alternatives`). `rank`
        orders calls among work that arrived together, lowest first (`next_call`): a stream
        ranks its submissions in document order. `on_engine` is called once, from a worker
        thread and before the call runs, when the first of these rows enters an engine call
        (never, when none does)."""
        if not rows:
            return []
        queue = self.config.max_queue
        if len(rows) <= queue:
            return self._submit(
                rows,
                ctx,
                max_new_tokens,
                min_new_tokens,
                with_attention,
                rank,
                on_engine,
                hypotheses=hypotheses,
            )
        # More rows than the queue holds: a request the limits allow is never refused for
        # that. It goes in waves of half the queue, in order, each queued once the one before
        # is done; the first is admitted as any request is, the rest wait for room.
        wave = max(1, queue // 2)
        done: list[Generated] = []
        for start in range(0, len(rows), wave):
            end = start + wave
            done += self._submit(
                rows[start:end],
                ctx,
                max_new_tokens[start:end],
                min_new_tokens,
                with_attention,
                rank,
                on_engine if start == 0 else None,
                wait_for_room=start > 0,
                hypotheses=hypotheses,
            )
        return done

    def _submit(
        self,
        rows: Sequence[Sequence[str]],
        ctx: RequestContext,
        max_new_tokens: Sequence[int],
        min_new_tokens: int,
        with_attention: bool,
        rank: int,
        on_engine: Callable[[], None] | None,
        *,
        wait_for_room: bool = False,
        hypotheses: int = 1,
    ) -> list[Generated]:
        """Queue `rows` (at most the queue's size) and wait for them; with `wait_for_room`,
        a full queue is waited on (within the deadline) instead of refused."""
        ctx.check()
        ticket = _Ticket(len(rows), ctx, on_engine)
        with self._cond:
            if not self._running:
                raise ServiceUnavailable(f"model {self.engine.name} is shutting down")
            if wait_for_room:
                self._wait_for_room_locked(len(rows), ctx)
            elif len(self._queue) + len(rows) > self.config.max_queue:
                self.stats.rejected_full += 1
                raise Overloaded(
                    f"queue for model {self.engine.name} is full",
                    retry_after=max(0.05, self._batch_seconds * 2),
                )
            now = time.monotonic()
            wait = self._expected_wait_locked()
            remaining = ctx.remaining()
            if remaining is not None and remaining <= 0:
                # Passed since ctx.check() above: the request's own deadline, not an overload
                # (which would read "0s behind; 0s left", with an empty queue).
                raise DeadlineExceeded()
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
                self._queue.append(
                    _Item(
                        ticket,
                        i,
                        tokens,
                        max_new_tokens[i],
                        min_new_tokens,
                        now,
                        with_attention,
                        rank,
                        hypotheses,
                    )
                )
            self._last_arrival = now
            self._queue_longest = max(self._queue_longest, *(len(row) for row in rows))
            self._queue_bound = max(self._queue_bound, *max_new_tokens[: len(rows)])
            self._cond.notify_all()
        remove_hook = ctx.on_cancel(lambda: self._withdraw(ticket, ctx.cancel_error))
        try:
            finished = ticket.wait(ctx.remaining())
            if not finished:
                self._withdraw(ticket, DeadlineExceeded())
            if ticket.error is not None:
                raise ticket.error
            return [r if r is not None else Generated([]) for r in ticket.results]
        finally:
            remove_hook()

    def _wait_for_room_locked(self, rows: int, ctx: RequestContext) -> None:
        """Until the queue has room for `rows` more (the later waves of a request larger than
        the queue). Cancelled, late or stopping: raises as `submit` does. Caller holds the
        lock."""
        self._room_waiters += 1
        try:
            while len(self._queue) + rows > self.config.max_queue:
                if not self._running:
                    raise ServiceUnavailable(f"model {self.engine.name} is shutting down")
                ctx.check()
                remaining = ctx.remaining()
                self._cond.wait(_ROOM_POLL if remaining is None else min(_ROOM_POLL, remaining))
        finally:
            self._room_waiters -= 1

    def _expected_wait_locked(self) -> float:
        """A low estimate of the seconds before new work gets its turn: the engine calls the
        queue ahead needs at the largest batches seen lately, each at the recent mean call
        time. 0 until there is history."""
        if not self._queue or self.stats.engine_calls < _MIN_HISTORY:
            return 0.0
        rows_per_call = max(self.stats.batch_sizes[-50:], default=1)
        calls_ahead = -(-len(self._queue) // max(1, rows_per_call))
        return -(-calls_ahead // self.workers) * self._batch_seconds

    def _withdraw(self, ticket: _Ticket, error: NewsmtError) -> None:
        """Take a ticket's queued items out of the queue and fail it."""
        with self._cond:
            self._drop_locked(ticket, error)

    def _drop_locked(self, ticket: _Ticket, error: NewsmtError) -> None:
        self._drop_many_locked({ticket: error})

    def _drop_many_locked(self, dead: dict[_Ticket, NewsmtError]) -> None:
        """Take every queued item of the `dead` tickets out in one pass, and fail them."""
        kept: deque[_Item] = deque()
        for item in self._queue:
            error = dead.get(item.ticket)
            if error is None:
                kept.append(item)
            else:
                self._count_dropped(error, 1)
        self._queue = kept
        self._queue_maxima_stale = True
        if self._room_waiters:
            self._cond.notify_all()
        for ticket, error in dead.items():
            ticket.fail(error)

    def _count_dropped(self, error: NewsmtError, items: int) -> None:
        if isinstance(error, DeadlineExceeded):
            self.stats.dropped_deadline += items
        else:
            self.stats.dropped_cancelled += items

    def queue_depth(self) -> int:
        with self._cond:
            return len(self._queue)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking work, fail what is queued, and let the running calls finish."""
        with self._cond:
            self._running = False
            pending, self._queue = list(self._queue), deque()
            self._queue_maxima_stale = True
            self._cond.notify_all()
        for item in pending:
            item.ticket.fail(ServiceUnavailable("server is shutting down"))
        until = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, until - time.monotonic()))

    # -- worker side -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            call = self._next_call()
            if call is None:
                return
            if call:
                try:
                    self._announce(call)
                    self._execute(call)
                finally:
                    with self._cond:
                        self._busy -= 1
                        if self._queue:
                            self._cond.notify()

    def _next_call(self) -> list[_Item] | None:
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
            quiet = delay if cfg.quiet is None else min(cfg.quiet, delay)
            latest = self._queue[0].enqueued + delay
            # A wait shorter than a thread switch gathers nobody; it only costs the switch.
            while quiet >= _MIN_WAIT and self._running and not self._budget_full():
                # Company still arriving is waited for, until it pauses for `quiet`.
                wait = min(latest, self._last_arrival + quiet) - time.monotonic()
                if wait <= 0:
                    break
                self._cond.wait(wait)
            return self._take()

    def _announce(self, call: list[_Item]) -> None:
        """Call the `on_engine` hook of each submission with work in `call`, once per
        submission (taken under the lock, so that two workers never both call it), outside the
        lock."""
        hooks: list[Callable[[], None]] = []
        with self._cond:
            for item in call:
                hook = item.ticket.on_engine
                if hook is not None:
                    item.ticket.on_engine = None
                    hooks.append(hook)
        for hook in hooks:
            hook()

    def _budget_full(self) -> bool:
        """Does the queue fill an engine call for every idle worker (each takes its share,
        `_take`)? O(1), but for one pass after a removal. Caller holds the lock."""
        if self._queue_maxima_stale:
            self._queue_longest = max((len(item.tokens) for item in self._queue), default=0)
            self._queue_bound = max((item.max_new_tokens for item in self._queue), default=0)
            self._queue_maxima_stale = False
        idle = max(1, self.workers - self._busy)
        rows = -(-len(self._queue) // idle)
        return budget_full(rows, self._queue_longest, self._queue_bound, self.config)

    def _take(self) -> list[_Item]:
        """Pop the next batch in arrival order, dropping dead items, and choose its one engine
        call (`next_call`); the rest goes back to the front of the queue, in arrival order, to
        be planned again with what arrives meanwhile. Empty when every item taken was dead.
        A non-empty call counts this worker busy until `_run` releases it. With other workers
        idle, the batch is this worker's share of the queue. Caller holds the lock."""
        cfg = self.config
        now = time.monotonic()
        idle = self.workers - self._busy
        limit = min(cfg.max_batch_size, -(-len(self._queue) // max(1, idle)))
        batch: list[_Item] = []
        #: Tickets found dead on the way: their items leave the queue in one pass at the end.
        dead: dict[_Ticket, NewsmtError] = {}
        while self._queue and len(batch) < limit:
            item = self._queue[0]
            ticket, ctx = item.ticket, item.ticket.ctx
            if ticket in dead:
                self._queue.popleft()
                self._count_dropped(dead[ticket], 1)
                continue
            if ticket.error is not None or ctx.cancelled:
                dead[ticket] = ticket.error or ctx.cancel_error
                continue
            if ctx.deadline is not None and ctx.deadline - now < self._batch_seconds:
                dead[ticket] = DeadlineExceeded()
                continue
            batch.append(self._queue.popleft())
        call, left = next_call(batch, cfg)
        self._queue.extendleft(reversed(left))
        self._queue_maxima_stale = True
        if self._room_waiters:
            self._cond.notify_all()  # a wave of a large request may fit now
        if dead:
            self._drop_many_locked(dead)  # their items further back, and the failures
        if call:
            self._busy += 1
            if self._queue and self._busy < self.workers:
                self._cond.notify()  # an idle worker takes the rest
        return call

    def _execute(self, batch: list[_Item]) -> None:
        batch.sort(key=lambda item: len(item.tokens))
        started = time.monotonic()
        waits = [started - item.enqueued for item in batch]
        try:
            # Only a call asking for alternatives passes `hypotheses` (engines take it then).
            hypotheses = max(item.hypotheses for item in batch)
            outputs = self.engine.generate(
                [item.tokens for item in batch],
                max_new_tokens=max(item.max_new_tokens for item in batch),
                min_new_tokens=min(item.min_new_tokens for item in batch),
                with_attention=any(item.with_attention for item in batch),
                **({"hypotheses": hypotheses} if hypotheses > 1 else {}),
            )
        except Exception as exc:
            log.error(
                "engine %s failed on a batch of %d: %s", self.engine.name, len(batch), describe(exc)
            )
            for item in batch:
                item.ticket.fail(Internal(f"model {self.engine.name} failed on this input"))
            return
        seconds = time.monotonic() - started
        padded = batch_tokens(
            len(batch),
            max(len(item.tokens) for item in batch),
            max(item.max_new_tokens for item in batch),
        )
        with self._cond:
            self._batch_seconds = (
                seconds
                if not self.stats.engine_calls
                else (0.8 * self._batch_seconds + 0.2 * seconds)
            )
            self.stats.engine_calls += 1
            self.stats.items_done += len(batch)
            self.stats.generated_tokens += sum(len(o.tokens) for o in outputs)
            self.stats.batch_sizes.append(len(batch))
            if len(self.stats.batch_sizes) > 10_000:
                del self.stats.batch_sizes[:5_000]
        finished = []
        with self._cond:
            for item, output in zip(batch, outputs, strict=True):
                ticket = item.ticket
                # The call ran to its largest bound: each row gets only what its own bound
                # would have given it alone.
                ticket.results[item.index] = output.cut(
                    self.engine.content_limit(item.max_new_tokens)
                )
                ticket.remaining -= 1
                if ticket.remaining == 0:
                    finished.append(ticket)
        for ticket in finished:
            ticket.finish()
        if self._observer is not None:
            self._observer(len(batch), padded, seconds, waits, sum(len(o.tokens) for o in outputs))
