"""The scheduler: batching across requests, token budgets, deadlines, cancellation, bounds."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import SimpleNamespace

import pytest

from newsmt.core.context import RequestContext
from newsmt.core.errors import Cancelled, DeadlineExceeded, Internal, Overloaded
from newsmt.engines.base import Engine, Generated
from newsmt.scheduler.batcher import (
    Batcher,
    BatcherConfig,
    batch_tokens,
    next_call,
    plan_calls,
)

from .support import wait_for


class RecordingEngine(Engine):
    """Echoes its input reversed, records each call, and can be held on a gate."""

    kind = "fake"

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        super().__init__(name="fake", demo=True, max_input_tokens=512)
        self.calls: list[list[list[str]]] = []
        self.delay = delay
        self.fail = fail
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def _encode(self, text: str) -> list[str]:
        return text.split()

    def _decode(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)

    def generate(self, batch, *, max_new_tokens, min_new_tokens=0, with_attention=False):  # type: ignore[no-untyped-def]
        self.entered.set()
        self.gate.wait()
        self.calls.append([list(row) for row in batch])
        if self.fail:
            raise RuntimeError("engine exploded on SECRET-TEXT")
        time.sleep(self.delay)  # the engine's work: call time is what the batcher measures
        return [Generated(list(reversed(row)), -1.0) for row in batch]


def rows(n: int, width: int = 3, tag: str = "r") -> list[list[str]]:
    return [[f"{tag}{i}-{j}" for j in range(width)] for i in range(n)]


def test_results_come_back_in_order() -> None:
    engine = RecordingEngine()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001))
    data = [["a"], ["b", "c", "d"], ["e", "f"]]
    out = batcher.submit(data, RequestContext(timeout=5), max_new_tokens=[10] * 3)
    assert out == [["a"], ["d", "c", "b"], ["f", "e"]]
    batcher.close()


def test_concurrent_requests_share_engine_calls() -> None:
    engine = RecordingEngine(delay=0.02)
    batcher = Batcher(engine, BatcherConfig(max_delay=0.05, max_batch_tokens=10_000))
    results: dict[int, list[list[str]]] = {}

    def client(i: int) -> None:
        results[i] = batcher.submit(
            rows(2, tag=f"c{i}-"), RequestContext(timeout=10), max_new_tokens=[10, 10]
        )

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16
    for i, out in results.items():
        assert out == [list(reversed(r)) for r in rows(2, tag=f"c{i}-")]
    stats = batcher.stats
    assert stats.items_done == 32
    assert stats.engine_calls < 16, f"no batching across requests: {stats.engine_calls} calls"
    assert max(stats.batch_sizes) > 2
    batcher.close()


@pytest.mark.parametrize(
    ("count", "bound", "calls"),
    [
        (20, 5, [10, 10]),  # 4 input + 5 output positions a row: 90 / 9 = 10 rows a call
        (12, 26, [3, 3, 3, 3]),  # same inputs, a longer bound: 90 / 30 = 3 rows a call
    ],
)
def test_token_budget_counts_input_and_output_positions(
    count: int, bound: int, calls: list[int]
) -> None:
    # What a call holds in memory grows with the positions it decodes, not its inputs alone.
    engine = RecordingEngine()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.2, max_batch_tokens=90))
    batcher.submit(rows(count, width=4), RequestContext(timeout=10), max_new_tokens=[bound] * count)
    assert [len(call) for call in engine.calls] == calls
    batcher.close()


def test_rows_are_sorted_by_length_within_a_batch() -> None:
    engine = RecordingEngine()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.01))
    data = [["a"] * 5, ["b"], ["c"] * 3]
    out = batcher.submit(data, RequestContext(timeout=5), max_new_tokens=[10] * 3)
    assert [len(r) for r in engine.calls[0]] == [1, 3, 5]
    assert out == [list(reversed(r)) for r in data]
    batcher.close()


def test_output_is_cut_at_each_items_own_bound() -> None:
    engine = RecordingEngine()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.01))
    out = batcher.submit(
        [["a", "b", "c", "d"], ["e", "f", "g", "h"]],
        RequestContext(timeout=5),
        max_new_tokens=[2, 10],
    )
    assert out == [["d", "c"], ["h", "g", "f", "e"]]
    batcher.close()


@pytest.mark.parametrize(("first", "end", "kept"), [(False, True, 2), (True, True, 1)])
def test_forced_tokens_count_against_a_rows_own_bound(first: bool, end: bool, kept: int) -> None:
    # Alone with bound 3, opus-mt (forced </s>) gives 2 tokens and BART (forced <s> and </s>)
    # gives 1. In a call that runs to a larger bound, a row must get no more than that.
    engine = RecordingEngine()
    engine.forced_first_token, engine.forced_end_token = first, end
    batcher = Batcher(engine, BatcherConfig(max_delay=0.01))
    out = batcher.submit(
        [["a", "b", "c", "d"], ["e", "f", "g", "h"]],
        RequestContext(timeout=5),
        max_new_tokens=[3, 10],
    )
    assert len(engine.calls) == 1  # one call, run to bound 10
    assert out == [["d", "c", "b"][:kept], ["h", "g", "f", "e"]]
    assert engine.content_limit(3) == kept
    batcher.close()


def test_expired_work_is_dropped_before_the_engine() -> None:
    engine = RecordingEngine()
    engine.gate.clear()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001))
    blocker = threading.Thread(
        target=batcher.submit,
        args=(rows(1), RequestContext(timeout=10)),
        kwargs={"max_new_tokens": [5]},
    )
    blocker.start()
    assert engine.entered.wait(5)  # the engine is now busy with the first request
    with pytest.raises(DeadlineExceeded):
        batcher.submit(rows(3, tag="late"), RequestContext(timeout=0.1), max_new_tokens=[5] * 3)
    # Withdrawn at its deadline, while the engine is still busy.
    assert batcher.stats.dropped_deadline == 3
    assert batcher.queue_depth() == 0
    engine.gate.set()
    blocker.join()
    batcher.close()  # joins the worker: every engine call it will make has been made
    assert all(not row[0].startswith("late") for call in engine.calls for row in call)


def test_work_that_would_outlast_its_deadline_in_the_queue_is_refused_on_arrival() -> None:
    # History: engine calls of about 0.2 s, one row each. Then the engine is held with ten
    # rows queued: about two seconds of work ahead of anything new.
    engine = RecordingEngine(delay=0.2)
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001, max_batch_size=1))
    for _ in range(3):
        batcher.submit(rows(1), RequestContext(timeout=10), max_new_tokens=[5])
    engine.gate.clear()
    engine.entered.clear()
    queued = threading.Thread(
        target=batcher.submit,
        args=(rows(11, tag="ahead"), RequestContext(timeout=30)),
        kwargs={"max_new_tokens": [5] * 11},
    )
    queued.start()
    assert engine.entered.wait(5)
    # The eleven rows were queued at once and the worker took one (max_batch_size 1).
    assert batcher.queue_depth() == 10
    calls = len(engine.calls)
    started = time.monotonic()
    with pytest.raises(Overloaded) as info:
        batcher.submit(rows(1, tag="late"), RequestContext(timeout=1.0), max_new_tokens=[5])
    assert time.monotonic() - started < 0.5  # at once, not at its deadline
    assert 1.0 < info.value.retry_after < 5.0  # about ten calls of 0.2 s
    assert batcher.stats.rejected_late == 1
    # The same request with time to spare waits its turn.
    patient: list[list[list[str]]] = []
    waiter = threading.Thread(
        target=lambda: patient.append(
            batcher.submit(rows(1, tag="patient"), RequestContext(timeout=30), max_new_tokens=[5])
        )
    )
    waiter.start()
    engine.gate.set()
    queued.join(10)
    waiter.join(10)
    assert patient and batcher.stats.rejected_late == 1
    assert not any(row[0].startswith("late") for call in engine.calls[calls:] for row in call)
    batcher.close()


def test_cancelled_request_leaves_the_queue_and_costs_no_engine_call() -> None:
    engine = RecordingEngine()
    engine.gate.clear()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001))
    first = threading.Thread(
        target=batcher.submit,
        args=(rows(1), RequestContext(timeout=10)),
        kwargs={"max_new_tokens": [5]},
    )
    first.start()
    assert engine.entered.wait(5)
    ctx = RequestContext(timeout=10)
    errors: list[Exception] = []

    def cancelled_call() -> None:
        try:
            batcher.submit(rows(4, tag="gone"), ctx, max_new_tokens=[5] * 4)
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=cancelled_call)
    t.start()
    wait_for(lambda: batcher.queue_depth() == 4, 5, what="the 4 rows queued")
    ctx.cancel()
    t.join(5)
    assert isinstance(errors[0], Cancelled)
    assert batcher.queue_depth() == 0  # withdrawn at once, not when the engine frees up
    engine.gate.set()
    first.join()
    assert engine.calls and all(
        not row[0].startswith("gone") for call in engine.calls for row in call
    )
    assert batcher.stats.dropped_cancelled == 4
    batcher.close()


def test_full_queue_is_refused_with_a_retry_hint() -> None:
    engine = RecordingEngine()
    engine.gate.clear()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001, max_queue=5, max_batch_size=1))
    background = [
        threading.Thread(
            target=batcher.submit,
            args=(rows(n), RequestContext(timeout=10)),
            kwargs={"max_new_tokens": [5] * n},
        )
        for n in (1, 4)
    ]
    background[0].start()
    assert engine.entered.wait(5)
    background[1].start()
    wait_for(lambda: batcher.queue_depth() == 4, 5, what="the 4 rows queued")
    with pytest.raises(Overloaded) as info:
        batcher.submit(rows(2), RequestContext(timeout=10), max_new_tokens=[5, 5])
    assert info.value.retry_after > 0
    assert batcher.stats.rejected_full == 1
    engine.gate.set()
    for t in background:
        t.join(5)
    assert batcher.stats.items_done == 5  # what was admitted still completes
    batcher.close()


def test_engine_failure_is_internal_without_text() -> None:
    batcher = Batcher(RecordingEngine(fail=True), BatcherConfig(max_delay=0.001))
    with pytest.raises(Internal) as info:
        batcher.submit([["SECRET-TEXT"]], RequestContext(timeout=5), max_new_tokens=[5])
    assert "SECRET" not in str(info.value)
    batcher.close()


def test_many_timeouts_leave_no_state_behind() -> None:
    engine = RecordingEngine(delay=0.01)
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001, max_batch_size=2))
    for _ in range(30):
        ctx = RequestContext(timeout=0.001)
        with pytest.raises((DeadlineExceeded, Cancelled)):
            batcher.submit(rows(5), ctx, max_new_tokens=[5] * 5)
    assert batcher.queue_depth() == 0  # each failed call took its rows out as it raised
    assert batcher.submit([["ok"]], RequestContext(timeout=5), max_new_tokens=[5]) == [["ok"]]
    batcher.close()


class _ExpiresOnTheWay(RequestContext):
    """Live when first checked, past its deadline at every later look."""

    def __init__(self) -> None:
        super().__init__(timeout=60)
        self.looks = 0

    def remaining(self) -> float | None:
        self.looks += 1
        return 1.0 if self.looks == 1 else -0.001


def test_a_deadline_passing_on_the_way_in_is_deadline_exceeded_not_overload() -> None:
    """Seen in the suite: a 1 ms request whose deadline passed between its first check and
    the late-work test got Overloaded ("0s behind; 0s left") from an empty queue."""
    batcher = Batcher(RecordingEngine(), BatcherConfig())
    with pytest.raises(DeadlineExceeded):
        batcher.submit(rows(2), _ExpiresOnTheWay(), max_new_tokens=[5] * 2)
    assert batcher.stats.rejected_late == 0 and batcher.queue_depth() == 0
    batcher.close()


def test_long_output_bounds_do_not_hold_short_ones_hostage() -> None:
    engine = RecordingEngine()
    engine.gate.clear()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.05, max_bound_spread=2.0))
    result: list[list[list[str]]] = []
    data = [["s"] * 3] * 5 + [["l"] * 40]
    t = threading.Thread(
        target=lambda: result.append(
            batcher.submit(data, RequestContext(timeout=10), max_new_tokens=[16] * 5 + [90])
        )
    )
    t.start()
    assert engine.entered.wait(5)  # the worker took the request and called the engine
    engine.gate.set()
    t.join(10)
    assert result and result[0][5] == ["l"] * 40  # order kept, each routed back
    assert sorted(len(call) for call in engine.calls) == [1, 5]  # two engine calls, by bound
    batcher.close()


def test_plan_calls_budgets_each_call_not_the_whole_batch() -> None:
    # One long sentence (bound 200) among short ones (bound 10): the long one runs in a call of
    # its own, and must not shrink the short ones' call to what fits beside it.
    config = BatcherConfig(max_batch_tokens=300, max_bound_spread=2.0)
    long_row = SimpleNamespace(tokens=["x"] * 50, max_new_tokens=200)
    short = [SimpleNamespace(tokens=["y"] * 5, max_new_tokens=10) for _ in range(30)]
    calls, left = plan_calls([short[0], long_row, *short[1:]], config)
    assert [len(c) for c in calls] == [20, 1]  # 20 x (5 + 10) = 300 tokens; then the long one
    assert calls[0] == short[:20] and calls[1] == [long_row]
    assert left == short[20:]  # back in arrival order
    for call in calls:
        longest = max(len(r.tokens) for r in call)
        bound = max(r.max_new_tokens for r in call)
        assert batch_tokens(len(call), longest, bound) <= config.max_batch_tokens


def test_plan_calls_always_runs_the_earliest_row_of_a_group() -> None:
    # A row alone over budget still runs (alone), and a later small row of its group waits.
    config = BatcherConfig(max_batch_tokens=64)
    big = SimpleNamespace(tokens=["x"] * 60, max_new_tokens=40)
    small = SimpleNamespace(tokens=["y"] * 2, max_new_tokens=40)
    calls, left = plan_calls([big, small], config)
    assert calls == [[big]] and left == [small]


def timed_row(width: int, bound: int, enqueued: float, rank: int = 0) -> SimpleNamespace:
    return SimpleNamespace(tokens=["x"] * width, max_new_tokens=bound, enqueued=enqueued, rank=rank)


def test_next_call_serves_the_oldest_work_first() -> None:
    # A long sentence queued well before short ones runs first: newer work never starves it.
    config = BatcherConfig(max_delay=0.005)
    long_row = timed_row(50, 200, enqueued=0.0)
    short = [timed_row(5, 10, enqueued=1.0) for _ in range(3)]
    call, left = next_call([long_row, *short], config)
    assert call == [long_row] and left == short


def test_next_call_runs_short_before_long_among_what_arrived_together() -> None:
    config = BatcherConfig(max_delay=0.005)
    long_row = timed_row(50, 200, enqueued=0.0)
    short = [timed_row(5, 10, enqueued=0.001) for _ in range(3)]
    call, left = next_call([long_row, *short], config)
    assert call == short and left == [long_row]  # the rest goes back in arrival order
    assert next_call([], config) == ([], [])


def test_next_call_serves_the_lowest_rank_first_among_what_arrived_together() -> None:
    # A stream's earlier units (lower rank) go before its later ones, even when longer.
    config = BatcherConfig(max_delay=0.005)
    early_long = timed_row(50, 200, enqueued=0.0, rank=1)
    late_short = [timed_row(5, 10, enqueued=0.001, rank=2) for _ in range(3)]
    call, left = next_call([early_long, *late_short], config)
    assert call == [early_long] and left == late_short


def test_rank_does_not_let_newer_work_overtake_older_work() -> None:
    config = BatcherConfig(max_delay=0.005)
    old = timed_row(50, 200, enqueued=0.0, rank=7)
    newer = timed_row(5, 10, enqueued=1.0, rank=0)
    call, left = next_call([old, newer], config)
    assert call == [old] and left == [newer]


def test_work_that_arrives_during_a_call_joins_the_next_call_of_its_length() -> None:
    # One request with a short and a long sentence: the short call runs first. A second long
    # sentence that arrives while it decodes must share the long sentence's call, not wait
    # for a call of its own after it (the batch is planned again after every call).
    engine = RecordingEngine()
    engine.gate.clear()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001, max_bound_spread=2.0))
    done: list[list[list[str]]] = []
    first = threading.Thread(
        target=lambda: done.append(
            batcher.submit(
                [["s"] * 3, ["l"] * 40], RequestContext(timeout=10), max_new_tokens=[10, 90]
            )
        )
    )
    first.start()
    assert engine.entered.wait(5)  # the short call is decoding; the long row is queued
    second = threading.Thread(
        target=lambda: done.append(
            batcher.submit([["m"] * 40], RequestContext(timeout=10), max_new_tokens=[90])
        )
    )
    second.start()
    wait_for(lambda: batcher.queue_depth() == 2, 5, what="the second request queued")
    engine.gate.set()
    first.join(10)
    second.join(10)
    assert len(done) == 2
    assert [len(call) for call in engine.calls] == [1, 2]
    assert sorted(row[0] for row in engine.calls[1]) == ["l", "m"]
    batcher.close()


def test_a_long_sentence_does_not_shrink_the_short_ones_call() -> None:
    engine = RecordingEngine()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.2, max_batch_tokens=300))
    out = batcher.submit(
        [["l"] * 50, *rows(20, width=5)],
        RequestContext(timeout=10),
        max_new_tokens=[200] + [10] * 20,
    )
    assert sorted(len(call) for call in engine.calls) == [1, 20]
    assert out[0] == ["l"] * 50 and len(out) == 21
    batcher.close()


class ParallelEngine(RecordingEngine):
    """A RecordingEngine whose calls may overlap: counts how many run at once."""

    def __init__(self, parallel_calls: int, delay: float) -> None:
        super().__init__(delay=delay)
        self.parallel_calls = parallel_calls
        self._lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0

    def generate(self, batch, *, max_new_tokens, min_new_tokens=0, with_attention=False):  # type: ignore[no-untyped-def]
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            return super().generate(batch, max_new_tokens=max_new_tokens)
        finally:
            with self._lock:
                self.running -= 1


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_an_engine_with_parallel_calls_gets_that_many_calls_at_once(workers: int) -> None:
    # A call long enough (0.2 s) that the others overlap it even on a busy machine.
    engine = ParallelEngine(workers, delay=0.2)
    batcher = Batcher(engine, BatcherConfig(max_delay=0.02, max_batch_tokens=10_000))
    assert batcher.workers == workers
    results: dict[int, list[list[str]]] = {}
    together = threading.Barrier(12)

    def client(i: int) -> None:
        together.wait(10)
        results[i] = batcher.submit(
            [[f"c{i}", "x"]], RequestContext(timeout=10), max_new_tokens=[10]
        )

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    assert results == {i: [["x", f"c{i}"]] for i in range(12)}
    assert engine.most_at_once == workers
    # What arrived together is divided among the idle workers instead of forming one call
    # while the others wait: no call holds more than its share.
    assert max(len(call) for call in engine.calls) <= -(-12 // workers)
    assert batcher.stats.items_done == 12 and sum(batcher.stats.batch_sizes) == 12


def test_parallel_workers_keep_one_call_per_item_and_close_cleanly() -> None:
    engine = ParallelEngine(2, delay=0.01)
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001, max_batch_size=3))
    ctx = RequestContext(timeout=10)
    out = batcher.submit(rows(20), ctx, max_new_tokens=[10] * 20)
    assert out == [list(reversed(r)) for r in rows(20)]
    assert sorted(row[0] for call in engine.calls for row in call) == sorted(r[0] for r in rows(20))
    assert engine.most_at_once == 2
    batcher.close()
    assert all(not t.is_alive() for t in batcher._threads)
    with pytest.raises(Exception, match="shutting down"):
        batcher.submit(rows(1), ctx, max_new_tokens=[10])


def test_on_engine_is_called_once_when_a_submission_first_reaches_an_engine() -> None:
    engine = RecordingEngine()
    engine.gate.clear()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001))
    reached: list[str] = []
    entered = threading.Event()

    def hook() -> None:
        reached.append(threading.current_thread().name)
        entered.set()

    ctx = RequestContext(timeout=10)
    done = threading.Thread(
        target=lambda: batcher.submit_full(
            [["a"], ["b"], ["c"]], ctx, max_new_tokens=[5] * 3, on_engine=hook
        ),
        daemon=True,
    )
    done.start()
    assert entered.wait(5), "taken into an engine call: the hook ran"
    engine.gate.set()
    done.join(5)
    assert not done.is_alive()
    # Once for the submission, though its rows may take several calls; from a worker thread.
    assert len(reached) == 1 and reached[0] != threading.current_thread().name
    batcher.close()


def test_on_engine_is_not_called_for_a_submission_withdrawn_in_the_queue() -> None:
    engine = RecordingEngine()
    engine.gate.clear()
    batcher = Batcher(engine, BatcherConfig(max_delay=0.001, max_batch_size=1))
    busy = threading.Thread(
        target=lambda: batcher.submit([["first"]], RequestContext(timeout=10), max_new_tokens=[5]),
        daemon=True,
    )
    busy.start()
    assert engine.entered.wait(5), "the first call never reached the engine"
    called: list[int] = []
    queued = RequestContext(timeout=10)
    failed: list[BaseException] = []

    def submit() -> None:
        try:
            batcher.submit_full(
                [["q"]], queued, max_new_tokens=[5], on_engine=lambda: called.append(1)
            )
        except BaseException as exc:
            failed.append(exc)

    waiter = threading.Thread(target=submit, daemon=True)
    waiter.start()
    wait_for(lambda: batcher.queue_depth() == 1, what="the second submission queued")
    queued.cancel()
    waiter.join(5)
    assert not waiter.is_alive() and isinstance(failed[0], Cancelled)
    engine.gate.set()
    busy.join(5)
    assert called == []
    batcher.close()


def test_a_child_context_is_cancelled_with_its_parent() -> None:
    parent = RequestContext(timeout=10, request_id="r1")
    part = parent.child()
    assert part.deadline == parent.deadline and part.request_id == "r1"
    # Cancelling a part alone leaves the request live.
    part.cancel()
    assert part.cancelled and not parent.cancelled
    # Cancelling the request cancels its parts, with the request's reason.
    other = parent.child()
    parent.cancel()
    assert other.cancelled
    with pytest.raises(Cancelled):
        other.check()


def submit_spaced(batcher: Batcher, gaps: Sequence[float]) -> list[threading.Thread]:
    """One single-row request now and one after each gap (seconds), each from its own thread
    (as gRPC workers submit); returns the threads, started."""
    threads = []
    for i, gap in enumerate([0.0, *gaps]):
        time.sleep(gap)
        thread = threading.Thread(
            target=batcher.submit,
            args=([[f"s{i}", "x"]], RequestContext(timeout=10)),
            kwargs={"max_new_tokens": [10]},
        )
        thread.start()
        threads.append(thread)
    return threads


def test_a_burst_still_arriving_is_gathered_until_it_pauses() -> None:
    # Arrivals 10 ms apart keep the batch waiting (quiet 100 ms); a 500 ms pause ends it. (An
    # engine call takes 0.5 s: the batcher waits for company at most half a call.)
    engine = RecordingEngine(delay=0.5)
    batcher = Batcher(engine, BatcherConfig(max_delay=1.0, quiet=0.1, max_batch_tokens=10_000))
    threads = submit_spaced(batcher, [0.01] * 5 + [0.5] + [0.01] * 2)
    for thread in threads:
        thread.join(10)
    batcher.close()
    assert [len(call) for call in engine.calls] == [6, 3]


def test_a_lone_request_waits_the_quiet_gap_not_the_whole_delay() -> None:
    engine = RecordingEngine()
    quick = Batcher(engine, BatcherConfig(max_delay=2.0, quiet=0.01))
    began = time.monotonic()
    quick.submit([["a"]], RequestContext(timeout=10), max_new_tokens=[5])
    assert time.monotonic() - began < 1.0
    quick.close()
    # Without a quiet gap the oldest waits all of max_delay, as before.
    patient = Batcher(RecordingEngine(), BatcherConfig(max_delay=0.3))
    began = time.monotonic()
    patient.submit([["a"]], RequestContext(timeout=10), max_new_tokens=[5])
    assert time.monotonic() - began >= 0.3
    patient.close()


def test_the_quiet_gap_never_holds_the_oldest_past_max_delay() -> None:
    # Arrivals every 10 ms for 0.6 s, quiet 50 ms: the first call goes at max_delay (0.2 s).
    engine = RecordingEngine(delay=0.5)
    batcher = Batcher(engine, BatcherConfig(max_delay=0.2, quiet=0.05, max_batch_tokens=10_000))
    threads: list[threading.Thread] = []
    began = time.monotonic()
    sender = threading.Thread(target=lambda: threads.extend(submit_spaced(batcher, [0.01] * 60)))
    sender.start()
    assert engine.entered.wait(5)
    first = time.monotonic() - began
    sender.join(10)
    for thread in threads:
        thread.join(10)
    batcher.close()
    assert first < 0.5, first
    assert len(engine.calls) >= 2 and len(engine.calls[0]) < 61


def test_idle_workers_wait_for_a_full_call_each_before_dividing_the_queue() -> None:
    # Two idle workers, four rows a call: the batch waits for eight rows, then each worker
    # takes four. Waiting for one call's worth would have split four rows into two calls of
    # two, and left the rest for later calls.
    engine = ParallelEngine(2, delay=0.05)
    batcher = Batcher(
        engine, BatcherConfig(max_delay=2.0, quiet=1.0, max_batch_size=4, max_batch_tokens=10_000)
    )
    threads = submit_spaced(batcher, [0.02] * 7)
    for thread in threads:
        thread.join(10)
    batcher.close()
    assert sorted(len(call) for call in engine.calls) == [4, 4]
