"""Single flight through the translator: a unit in flight is translated once, whoever asks for
it and however often, and no request waits on another in a way that can deadlock, outlive its
own cancellation, or inherit another's error."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from newsmt.core.context import RequestContext
from newsmt.core.errors import Cancelled, Internal
from newsmt.models.registry import Registry
from newsmt.pipeline.cache import CachedUnit, Flight, TranslationCache
from newsmt.pipeline.translate import Translated, Translator
from newsmt.server.app import NewsmtServer

from .conftest import running_server
from .support import wait_for

EN_RU = "opus-mt-en-ru"

TEXT = "Rain fell on the city. The river rose overnight. Schools stayed closed."
UNITS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NewsmtServer]:
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path_factory.mktemp("empty")) as (srv, _):
        yield srv


class Gate:
    """Wraps the identity engine: records every row that reaches it (as text), and holds the
    first `held` calls until `release` is set (then fails them with `fail`)."""

    def __init__(self, inner: Callable[..., Any], held: int = 0, fail: bool = False) -> None:
        self.inner = inner
        self.held = held
        self.fail = fail
        self.rows: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self._calls = 0
        self._lock = threading.Lock()

    def __call__(self, batch: Sequence[Sequence[str]], **kw: Any) -> Any:
        with self._lock:
            self._calls += 1
            hold = self._calls <= self.held
            self.rows.extend("".join(row) for row in batch)
        if hold:
            self.entered.set()
            assert self.release.wait(30), "the test never released the engine"
            if self.fail:
                raise RuntimeError("engine failure (test)")
        return self.inner(batch, **kw)


@pytest.fixture
def gate(server: NewsmtServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Gate]]:
    engine = server.pool.info(EN_RU).engine
    assert engine is not None
    made: list[Gate] = []

    def install(held: int = 0, fail: bool = False) -> Gate:
        g = Gate(engine.generate, held, fail)
        monkeypatch.setattr(engine, "generate", g)
        made.append(g)
        return g

    yield install
    for g in made:
        g.release.set()  # never leave the model's batcher held for the next test


def translator(server: NewsmtServer, cache: TranslationCache | None) -> Translator:
    return Translator(server.pool, server.detector, server.translator.config, cache=cache)


class Call:
    """One Translate call in its own thread: its result or its error."""

    def __init__(self, run: Callable[[], list[Translated]]) -> None:
        self.result: list[Translated] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(run,))
        self.thread.start()

    def _run(self, run: Callable[[], list[Translated]]) -> None:
        try:
            self.result = run()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 10) -> Call:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the call did not finish"
        return self


def test_two_concurrent_requests_translate_each_unit_once(
    server: NewsmtServer, gate: Callable[..., Gate]
) -> None:
    cache = TranslationCache(1 << 20)
    t = translator(server, cache)
    g = gate(held=1)
    leader = Call(lambda: t.translate([TEXT], "en", "ru", RequestContext(timeout=30)))
    assert g.entered.wait(10)  # the leader's units are in the engine, held there
    follower_ctx = RequestContext(timeout=30)
    follower = Call(lambda: t.translate([TEXT], "en", "ru", follower_ctx))
    wait_for(lambda: cache.stats().coalesced == UNITS, what="the follower joined every unit")
    assert cache.stats().misses == UNITS
    g.release.set()
    leader.join()
    follower.join()
    assert leader.result is not None and follower.result is not None
    assert leader.result[0].text == follower.result[0].text == TEXT
    # The engine saw each unit once, and the follower none of its own.
    assert len(g.rows) == UNITS and len(set(g.rows)) == UNITS
    assert leader.result[0].cached_units == 0
    assert follower.result[0].units == follower.result[0].cached_units == UNITS
    stats = cache.stats()
    assert (stats.misses, stats.coalesced, stats.hits, stats.in_flight) == (UNITS, UNITS, 0, 0)
    assert stats.entries == UNITS
    assert follower_ctx._callbacks == []  # the wait's cancel hooks were removed


def test_a_unit_repeated_in_one_request_reaches_the_engine_once(
    server: NewsmtServer, gate: Callable[..., Gate]
) -> None:
    text = "Rain fell. Wind rose. Rain fell."
    cache = TranslationCache(1 << 20)
    g = gate()
    result = translator(server, cache).translate(
        [text, "Rain fell."], "en", "ru", RequestContext(timeout=30)
    )
    assert [r.text for r in result] == [text, "Rain fell."]
    assert Counter(g.rows) == {"Rain fell.": 1, "Wind rose.": 1}
    # Every copy has its unit; none was answered by the cache (nothing was in it).
    assert (result[0].units, result[0].cached_units) == (3, 0)
    assert (result[1].units, result[1].cached_units) == (1, 0)
    stats = cache.stats()
    assert (stats.lookups, stats.misses, stats.entries, stats.in_flight) == (2, 2, 2, 0)


def test_without_a_cache_a_repeated_unit_is_translated_each_time(
    server: NewsmtServer, gate: Callable[..., Gate]
) -> None:
    g = gate()
    text = "Rain fell. Wind rose. Rain fell."
    result = translator(server, None).translate([text], "en", "ru", RequestContext(timeout=30))
    assert result[0].text == text
    assert Counter(g.rows) == {"Rain fell.": 2, "Wind rose.": 1}


class Crossing(TranslationCache):
    """Each thread's first lookup waits for the other thread's first: each then leads the unit
    it looked up first, and follows the other's."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes)
        self.barrier = threading.Barrier(2)
        self.seen = threading.local()

    def lookup(self, key: bytes) -> CachedUnit | Flight | None:
        answer = super().lookup(key)
        if not getattr(self.seen, "first", False):
            self.seen.first = True
            self.barrier.wait(10)
        return answer


def test_two_requests_that_each_follow_the_other_do_not_deadlock(
    server: NewsmtServer, gate: Callable[..., Gate]
) -> None:
    cache = Crossing(1 << 20)
    t = translator(server, cache)
    g = gate()
    one, two = "Alpha spoke first. Beta answered.", "Beta answered. Alpha spoke first."

    def request(text: str) -> Callable[[], list[Translated]]:
        # A deadlock would end only at this deadline, with DeadlineExceeded in both.
        return lambda: t.translate([text], "en", "ru", RequestContext(timeout=10))

    calls = [Call(request(one)), Call(request(two))]
    for call in calls:
        call.join(20)
        assert call.error is None
    assert [c.result[0].text for c in calls if c.result] == [one, two]
    # Each led one unit and followed the other: each unit reached the engine once.
    assert Counter(g.rows) == {"Alpha spoke first.": 1, "Beta answered.": 1}
    assert [c.result[0].cached_units for c in calls if c.result] == [1, 1]
    stats = cache.stats()
    assert (stats.misses, stats.coalesced, stats.in_flight) == (2, 2, 0)


def test_a_cancelled_follower_stops_waiting_at_once_and_the_leader_still_stores(
    server: NewsmtServer, gate: Callable[..., Gate]
) -> None:
    cache = TranslationCache(1 << 20)
    t = translator(server, cache)
    g = gate(held=1)
    leader = Call(lambda: t.translate([TEXT], "en", "ru", RequestContext(timeout=30)))
    assert g.entered.wait(10)
    follower_ctx = RequestContext(timeout=60)
    follower = Call(lambda: t.translate([TEXT], "en", "ru", follower_ctx))
    wait_for(lambda: cache.stats().coalesced == UNITS, what="the follower is waiting")
    follower_ctx.cancel()
    # Its wait ends now, long before its deadline, while the leader is still held.
    follower.join(5)
    assert isinstance(follower.error, Cancelled)
    assert leader.thread.is_alive() and cache.stats().in_flight == UNITS
    g.release.set()
    leader.join()
    assert leader.result is not None and leader.result[0].text == TEXT
    stats = cache.stats()
    assert (stats.entries, stats.in_flight) == (UNITS, 0)
    assert len(g.rows) == UNITS


@pytest.mark.parametrize("how", ["engine error", "leader cancelled"])
def test_a_follower_whose_leader_gave_up_translates_the_unit_itself(
    server: NewsmtServer, gate: Callable[..., Gate], how: str
) -> None:
    cache = TranslationCache(1 << 20)
    t = translator(server, cache)
    g = gate(held=1, fail=how == "engine error")
    leader_ctx = RequestContext(timeout=30)
    leader = Call(lambda: t.translate([TEXT], "en", "ru", leader_ctx))
    assert g.entered.wait(10)
    follower = Call(lambda: t.translate([TEXT], "en", "ru", RequestContext(timeout=30)))
    wait_for(lambda: cache.stats().coalesced == UNITS, what="the follower is waiting")
    if how == "engine error":
        g.release.set()
        leader.join()
        assert isinstance(leader.error, Internal)
    else:
        leader_ctx.cancel()
        leader.join()
        assert isinstance(leader.error, Cancelled)
        g.release.set()
    follower.join()
    # Not the leader's error: the follower led the units itself, and got them.
    assert follower.error is None and follower.result is not None
    assert follower.result[0].text == TEXT and follower.result[0].cached_units == 0
    assert Counter(g.rows) == {row: 2 for row in g.rows[:UNITS]} and len(g.rows) == 2 * UNITS
    stats = cache.stats()
    assert (stats.misses, stats.coalesced, stats.in_flight) == (2 * UNITS, UNITS, 0)
    assert stats.entries == UNITS


def test_the_flight_table_empties_after_a_failure_with_no_follower(
    server: NewsmtServer, gate: Callable[..., Gate]
) -> None:
    cache = TranslationCache(1 << 20)
    g = gate(held=1, fail=True)
    g.release.set()
    with pytest.raises(Internal):
        translator(server, cache).translate([TEXT], "en", "ru", RequestContext(timeout=30))
    assert cache.in_flight() == [] and len(cache) == 0
