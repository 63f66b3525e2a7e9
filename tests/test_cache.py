"""The per-unit translation cache: keys that separate what must differ, and a byte-bounded LRU
whose counters add up."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsmt.pipeline.cache import (
    ENTRY_OVERHEAD_BYTES,
    CachedUnit,
    Flight,
    Hop,
    KeyMaker,
    TranslationCache,
    canonical,
    engine_version,
    entry_bytes,
    payload_bytes,
)
from newsmt.pipeline.documents import TokenLink
from newsmt.pipeline.nfc import normalize
from newsmt.pipeline.quality import Flag, SentenceQuality, Signals

EN_RU = Hop(
    model="opus-mt-en-ru",
    identity="hub:Helsinki-NLP/opus-mt-en-ru@" + "a" * 40,
    engine="ctranslate2",
    compute_type="int8",
    engine_version="4.6.0",
    decoding={"num_beams": 4, "length_penalty": 1.0, "output_ratio": 1.5, "output_extra": 10},
)


def key_of(
    unit: str = "Hello.",
    *,
    hops: tuple[Hop, ...] = (EN_RU,),
    source: str = "en",
    target: str = "ru",
    glossary: tuple[tuple[str, ...], ...] = (),
) -> bytes:
    return KeyMaker(hops, source, target).key(unit, glossary)


def unit(text: str = "Привет.", **kw: Any) -> CachedUnit:
    return CachedUnit(text, **kw)


def digest(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest()


def peek(cache: TranslationCache, key: bytes) -> CachedUnit | None:
    """The value under `key` (a hit), or None (a miss, counted as one, and not led)."""
    found = cache.lookup(key)
    if found is None:
        cache.abandon(key)
    assert not isinstance(found, Flight), "nobody leads a key in these tests"
    return found


# -- keys ----------------------------------------------------------------------------------------


def run_threads(work: Callable[[int], None], n: int, timeout: float) -> None:
    """`work(0)` .. `work(n - 1)` on threads of their own, started together, each joined."""
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
        assert not thread.is_alive(), "a worker thread did not finish"


def test_the_same_unit_twice_hits() -> None:
    cache = TranslationCache(1 << 20)
    assert peek(cache, key_of()) is None
    value = unit(alignment=((0, 0), (1, 1)), truncated=True)
    assert cache.put(key_of(), value)
    assert peek(cache, key_of()) == value
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1)


@pytest.mark.parametrize(
    "changed",
    [
        {"target": "es"},
        {"source": "es"},
        {"unit": "Hello!"},
        {"hops": (replace(EN_RU, identity="hub:Helsinki-NLP/opus-mt-en-ru@" + "b" * 40),)},
        {"hops": (replace(EN_RU, identity="files:" + "0" * 64),)},
        {"hops": (replace(EN_RU, engine="transformers"),)},
        {"hops": (replace(EN_RU, compute_type="float32"),)},
        {"hops": (replace(EN_RU, engine_version="4.7.0"),)},
        {"hops": (replace(EN_RU, decoding={**EN_RU.decoding, "num_beams": 1}),)},
        {"hops": (replace(EN_RU, decoding={**EN_RU.decoding, "length_penalty": 1.1}),)},
        {"hops": (replace(EN_RU, decoding={**EN_RU.decoding, "min_length": 0}),)},
        {"hops": (replace(EN_RU, model="opus-mt-en-ru-2"),)},
        {"hops": (EN_RU, replace(EN_RU, model="opus-mt-ru-es"))},
        {"glossary": (("Hello", "Здравствуйте"),)},
    ],
    ids=",".join,
)
def test_anything_that_shapes_the_output_changes_the_key(changed: dict[str, Any]) -> None:
    assert key_of(**changed) != key_of()


def test_a_different_glossary_entry_misses_and_order_and_repeats_do_not() -> None:
    one = (("world", "мир"),)
    assert key_of(glossary=one) != key_of(glossary=(("world", "свет"),))
    both = (("world", "мир"), ("Hello", "Привет"))
    assert key_of(glossary=both) == key_of(glossary=(both[1], both[0], both[1]))
    assert key_of(glossary=both) != key_of(glossary=one)
    # Glossary terms are normalized like the unit.
    assert key_of(glossary=(("Caf\u00e9", "кафе"),)) == key_of(glossary=(("Cafe\u0301", "кафе"),))


def test_decoding_settings_are_keyed_by_content_not_order() -> None:
    reordered = replace(EN_RU, decoding=dict(reversed(list(EN_RU.decoding.items()))))
    assert key_of(hops=(reordered,)) == key_of()
    # 4 and 4.0 are different settings values: the canonical form keeps types apart.
    as_float = replace(EN_RU, decoding={**EN_RU.decoding, "num_beams": 4.0})
    assert key_of(hops=(as_float,)) != key_of()


def test_nfc_and_nfd_forms_share_one_entry() -> None:
    composed, decomposed = "Caf\u00e9 au lait.", "Cafe\u0301 au lait."
    assert composed != decomposed and normalize(decomposed) == composed
    cache = TranslationCache(1 << 20)
    cache.put(key_of(composed), unit("Кофе с молоком."))
    assert peek(cache, key_of(decomposed)) == unit("Кофе с молоком.")
    assert cache.stats().entries == 1


def test_separator_injection_cannot_collide() -> None:
    # ["a|b"] as one unit is not the units "a" and "b", nor any join of them.
    assert key_of("a|b") not in {key_of("a"), key_of("b"), key_of("ab"), key_of("a b")}
    # Glossary entries: where one term ends and the next begins is part of the record.
    pairs = [
        ((("a|b", "c"),), (("a", "b|c"),)),
        ((("ab", "c"),), (("a", "bc"),)),
        ((("a", "b"), ("c", "d")), (("a", "b", "c", "d"),)),
        ((("a", "b"),), (("a", "b"), ("", ""))),
    ]
    for left, right in pairs:
        assert key_of(glossary=left) != key_of(glossary=right)
    # The unit cannot spill into the glossary, nor the route into the languages.
    assert key_of("x", glossary=(("y", "z"),)) != key_of("x\x00y", glossary=(("z",),))
    assert key_of(source="en", target="ru") != key_of(source="e", target="nru")
    a_b = KeyMaker((replace(EN_RU, model="a"), replace(EN_RU, model="b")), "en", "ru").key("x")
    ab = KeyMaker((replace(EN_RU, model="a|b"),), "en", "ru").key("x")
    assert a_b != ab


def test_the_key_is_a_digest_and_the_cache_takes_nothing_else() -> None:
    key = key_of("Secret source sentence.")
    assert isinstance(key, bytes) and len(key) == 32
    # Nothing but a 32-byte digest is a key: no text can be stored under a key of its own.
    cache = TranslationCache(1 << 20)
    with pytest.raises(ValueError, match="32-byte digest"):
        cache.put(b"Secret source sentence.", unit())
    assert cache.stats().entries == 0


def test_a_key_needs_the_languages_actually_used() -> None:
    with pytest.raises(ValueError, match="source and target"):
        KeyMaker((EN_RU,), "", "ru")


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.binary(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_values, _values)
def test_canonical_encoding_is_injective(left: Any, right: Any) -> None:
    assert (canonical(left) == canonical(right)) == (left == right and _same_types(left, right))


def _same_types(left: Any, right: Any) -> bool:
    """`==` also holds for False == 0 and 1 == True: the encoding keeps those apart."""
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return all(_same_types(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        return all(_same_types(left[k], right[k]) for k in left)
    return True


def test_canonical_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(TypeError, match="cannot encode a object"):
        canonical(object())


def test_engine_version_names_the_installed_library() -> None:
    assert engine_version("identity") == ""
    assert engine_version("transformers")[0].isdigit()


# -- sizes ---------------------------------------------------------------------------------------


def test_entry_size_counts_key_text_alignment_and_overhead() -> None:
    key = digest(0)
    text = "Привет"  # 12 UTF-8 bytes
    plain = entry_bytes(key, unit(text))
    assert plain == 32 + 12 + 8 + ENTRY_OVERHEAD_BYTES  # key, text, the truncated flag
    assert entry_bytes(key, unit(text, alignment=(TokenLink(0, 1, 0, 1),))) == plain + 4 * 8
    assert entry_bytes(key, unit(text, alignment=((0, 1), (2, 3)))) == plain + 4 * 8
    flagged = SentenceQuality(frozenset({Flag.TRUNCATED}), -0.5, False, (Signals(2.0),))
    # One flag, the logprob, the calibrated bool, and the signals' four set numbers (its four
    # None fields count nothing).
    assert entry_bytes(key, unit(text, quality=flagged)) == plain + (1 + 1 + 1 + 4) * 8
    with pytest.raises(TypeError, match="cannot size a object"):
        payload_bytes(object())


# -- the LRU -------------------------------------------------------------------------------------


def test_zero_bytes_turns_the_cache_off() -> None:
    cache = TranslationCache(0)
    assert not cache.enabled
    assert cache.put(digest(1), unit()) is False
    assert peek(cache, digest(1)) is None
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.misses, stats.hits, stats.rejected) == (0, 0, 1, 0, 1)


def test_an_entry_larger_than_the_bound_is_not_stored() -> None:
    small = unit("ok")
    cache = TranslationCache(entry_bytes(digest(1), small) + 10)
    assert cache.put(digest(1), small)
    assert not cache.put(digest(2), unit("x" * 100))
    assert digest(2) not in cache and digest(1) in cache
    # A too-large value under an existing key drops the old one: the key never returns stale.
    assert not cache.put(digest(1), unit("y" * 100))
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.rejected, stats.evictions) == (0, 0, 2, 0)


def test_least_recently_used_goes_first() -> None:
    size = entry_bytes(digest(0), unit("v"))
    cache = TranslationCache(3 * size)
    for n in range(3):
        cache.put(digest(n), unit("v"))
    assert peek(cache, digest(0)) is not None  # 0 is now the most recent: 1 goes first
    cache.put(digest(3), unit("v"))
    assert cache.ordered_keys() == [digest(2), digest(0), digest(3)]
    assert cache.stats().evictions == 1


def test_bad_keys_and_values_are_refused() -> None:
    cache = TranslationCache(1 << 20)
    with pytest.raises(ValueError, match="32-byte digest"):
        cache.put(b"plaintext key", unit())
    with pytest.raises(TypeError, match="only CachedUnit"):
        cache.put(digest(1), RuntimeError("an error"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_bytes"):
        TranslationCache(-1)


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 15), st.integers(0, 600)),
        st.tuples(st.just("get"), st.integers(0, 15), st.just(0)),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(max_bytes=st.integers(0, 3000), ops=_ops)
def test_the_byte_bound_holds_and_the_counters_add_up(
    max_bytes: int, ops: list[tuple[str, int, int]]
) -> None:
    cache = TranslationCache(max_bytes)
    model: OrderedDict[bytes, CachedUnit] = OrderedDict()
    gets = evictions = rejected = hits = 0
    for op, n, size in ops:
        key = digest(n)
        if op == "get":
            gets += 1
            expected = model.get(key)
            if expected is not None:
                model.move_to_end(key)
                hits += 1
            assert peek(cache, key) == expected
        else:
            value = unit("é" * (size // 2), alignment=bytes(size % 7))
            model.pop(key, None)
            need = entry_bytes(key, value)
            if need > max_bytes:
                rejected += 1
                assert cache.put(key, value) is False
                continue
            while sum(entry_bytes(k, v) for k, v in model.items()) + need > max_bytes:
                model.popitem(last=False)
                evictions += 1
            model[key] = value
            assert cache.put(key, value) is True
        stats = cache.stats()
        assert stats.bytes <= max_bytes
        assert stats.bytes == sum(entry_bytes(k, v) for k, v in model.items())
        assert stats.entries == len(model) and cache.ordered_keys() == list(model)
        assert stats.lookups == gets and stats.hits == hits
        assert (stats.evictions, stats.rejected) == (evictions, rejected)


def test_many_threads_keep_the_cache_consistent() -> None:
    value = unit("значение")
    cache = TranslationCache(40 * entry_bytes(digest(0), value))
    threads_n, rounds = 8, 400
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            barrier.wait()
            for i in range(rounds):
                key = digest((seed * 7919 + i * 31) % 97)
                found = cache.lookup(key)
                if found is None:
                    cache.put(key, value)
                elif isinstance(found, Flight):
                    assert found.wait(30) and found.value == value
                else:
                    assert found == value
        except BaseException as exc:
            errors.append(exc)

    run_threads(work, threads_n, timeout=30)
    assert not errors
    stats = cache.stats()
    assert stats.lookups == threads_n * rounds
    assert stats.hits > 0 and stats.evictions > 0
    assert stats.bytes <= cache.max_bytes
    assert stats.entries == len(cache.ordered_keys()) == 40
    assert stats.bytes == sum(entry_bytes(k, value) for k in cache.ordered_keys())


# -- single flight -------------------------------------------------------------------------------


def test_a_miss_leads_and_a_second_lookup_follows_until_put() -> None:
    cache = TranslationCache(1 << 20)
    key, value = digest(1), unit("Привет.")
    assert cache.lookup(key) is None  # a miss: this caller now leads the key
    assert cache.in_flight() == [key]
    flight = cache.lookup(key)
    assert isinstance(flight, Flight) and not flight.wait(0) and flight.value is None
    assert cache.lookup(key) is flight  # every follower waits on the one flight
    assert cache.put(key, value)
    assert flight.wait(0) and flight.value == value
    assert flight.wait(0)
    assert cache.in_flight() == []
    assert cache.lookup(key) == value  # now a plain hit
    stats = cache.stats()
    assert (stats.misses, stats.coalesced, stats.hits, stats.in_flight) == (1, 2, 1, 0)
    assert stats.lookups == 4


def test_abandon_wakes_the_followers_with_nothing_and_stores_nothing() -> None:
    cache = TranslationCache(1 << 20)
    key = digest(2)
    assert cache.lookup(key) is None
    flight = cache.lookup(key)
    assert isinstance(flight, Flight)
    cache.abandon(key)
    assert flight.wait(0) and flight.value is None
    assert cache.in_flight() == [] and key not in cache
    # Nobody leads it any more: the next lookup misses and leads.
    assert cache.lookup(key) is None and cache.in_flight() == [key]
    cache.abandon(key)
    cache.abandon(key)  # a key with no flight is left alone
    stats = cache.stats()
    assert (stats.misses, stats.coalesced, stats.entries, stats.in_flight) == (2, 1, 0, 0)


def test_a_put_larger_than_the_bound_still_wakes_the_followers_with_it() -> None:
    small = unit("ok")
    cache = TranslationCache(entry_bytes(digest(3), small))
    big = unit("x" * 100)
    assert cache.lookup(digest(3)) is None
    flight = cache.lookup(digest(3))
    assert isinstance(flight, Flight)
    assert cache.put(digest(3), big) is False
    assert flight.value == big and cache.in_flight() == [] and digest(3) not in cache


def test_the_cache_off_makes_no_flights() -> None:
    cache = TranslationCache(0)
    assert cache.lookup(digest(1)) is None
    assert cache.lookup(digest(1)) is None
    assert cache.in_flight() == []
    assert (cache.stats().misses, cache.stats().coalesced) == (2, 0)


@pytest.mark.parametrize("settle", ["put", "abandon"])
def test_a_waiting_follower_is_woken_by_the_leader(settle: str) -> None:
    cache = TranslationCache(1 << 20)
    key, value = digest(4), unit("значение")
    assert cache.lookup(key) is None
    flight = cache.lookup(key)
    assert isinstance(flight, Flight)
    waiting = threading.Event()
    got: list[tuple[bool, CachedUnit | None]] = []

    def stop() -> bool:
        # Called under the cache's lock as the wait begins: the leader cannot settle the
        # flight until the follower is really waiting (the wait releases the lock).
        waiting.set()
        return False

    def follow() -> None:
        got.append((flight.wait(None, stop), flight.value))

    follower = threading.Thread(target=follow)
    follower.start()
    assert waiting.wait(10)
    if settle == "put":
        cache.put(key, value)
    else:
        cache.abandon(key)
    follower.join(10)
    assert not follower.is_alive()
    assert got == [(True, value if settle == "put" else None)]
    assert cache.in_flight() == []


def test_wake_lets_a_stopped_follower_leave_and_the_others_wait_on() -> None:
    cache = TranslationCache(1 << 20)
    key = digest(5)
    assert cache.lookup(key) is None
    flight = cache.lookup(key)
    assert isinstance(flight, Flight)
    leave = threading.Event()
    results: dict[str, bool] = {}

    def waiter(name: str, entered: threading.Event, stop: threading.Event) -> threading.Thread:
        def checked() -> bool:
            # Called under the cache's lock as the wait begins and on each wake: whoever takes
            # the lock after `entered` is set finds this follower really waiting.
            entered.set()
            return stop.is_set()

        def follow() -> None:
            results[name] = flight.wait(30, checked)

        return threading.Thread(target=follow)

    leaving_in, staying_in = threading.Event(), threading.Event()
    leaving = waiter("leaving", leaving_in, leave)
    staying = waiter("staying", staying_in, threading.Event())
    leaving.start()
    staying.start()
    assert leaving_in.wait(10) and staying_in.wait(10)
    leave.set()
    flight.wake()
    leaving.join(10)
    assert not leaving.is_alive() and results["leaving"] is False
    assert staying.is_alive()  # woken too, but its stop is false: it waits on
    cache.put(key, unit("v"))
    staying.join(10)
    assert results["staying"] is True and cache.in_flight() == []


def test_many_threads_in_flight_keep_the_counters_and_empty_the_table() -> None:
    # Room for three entries: values are evicted while other threads follow their flights.
    cache = TranslationCache(3 * entry_bytes(digest(0), unit("v")))
    threads_n, rounds, keys = 8, 300, 13
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []
    led = [0] * threads_n

    def work(seed: int) -> None:
        try:
            barrier.wait()
            for i in range(rounds):
                key = digest((seed * 7 + i) % keys)
                answer = cache.lookup(key)
                if answer is None:
                    led[seed] += 1
                    # Every third leader gives up: its followers must never see an error.
                    if i % 3 == 0:
                        cache.abandon(key)
                    else:
                        cache.put(key, unit("v"))
                elif isinstance(answer, Flight):
                    assert answer.wait(30)
                    assert answer.value in (None, unit("v"))
                else:
                    assert answer == unit("v")
        except BaseException as exc:
            errors.append(exc)

    run_threads(work, threads_n, timeout=60)
    assert not errors
    stats = cache.stats()
    assert stats.lookups == threads_n * rounds
    assert stats.misses == sum(led)
    assert cache.in_flight() == [] and stats.in_flight == 0
