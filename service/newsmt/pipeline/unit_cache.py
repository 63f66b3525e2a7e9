"""The translation cache as the pipeline uses it: each route's key maker, and single flight.

`UnitCache.run` gives the result of every unit of one route: hits from the cache, misses
translated here in one submission (this request leads them), and units another request is
translating now waited for (`cache.TranslationCache.lookup`). Values are stored as the hops
produce them (`CachedUnit` holds the output, its alignment, its cut flag and its quality), so a
hit is rebuilt without any conversion.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from newsmt.core.context import RequestContext
from newsmt.pipeline.cache import (
    CachedUnit,
    Flight,
    Hop,
    KeyMaker,
    TranslationCache,
    engine_version,
)
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.documents import Alignment
from newsmt.pipeline.hops import UnitWork

if TYPE_CHECKING:
    # Types only: a route's key is made from its engines' identities and settings, and the
    # weak references that keep a key maker valid point at those engine objects.
    from newsmt.engines.base import Engine
    from newsmt.models.pool import ServedModel

#: Translates units that missed (NFC texts in, one result each out).
Run = Callable[[list[str]], list[UnitWork]]

#: Bound on the key makers kept: far above what the served routes need (routes x languages x
#: aligned); reached only by reloads.
_MAX_KEY_MAKERS = 256


class UnitCache:
    def __init__(self, cache: TranslationCache, config: PipelineConfig) -> None:
        self.cache = cache
        self.config = config
        #: KeyMakers by (engines, aligned, source, target), each with weak references to the
        #: engines it was made for (`key_maker`).
        self._makers: dict[tuple[object, ...], tuple[tuple[weakref.ref[Engine], ...], KeyMaker]]
        self._makers = {}

    def key_maker(
        self,
        models: Sequence[ServedModel],
        source: str,
        target: str,
        aligned: bool,
        hypotheses: int = 1,
    ) -> KeyMaker:
        """The KeyMaker of a route, made once while its engines stay loaded. Every input of a
        hop's record (weights, calibration threshold, engine settings) is set when the engine
        is, and the config never changes: the same engine objects mean the same record. Weak
        references, checked on every use, make a reloaded model (a new engine object, even at
        a reused address) a miss here and keep no unloaded engine alive."""
        engines: list[Engine] = []
        for model in models:
            assert model.engine is not None  # a served (READY) model
            engines.append(model.engine)
        memo = (*(id(e) for e in engines), aligned, hypotheses, source, target)
        found = self._makers.get(memo)
        if found is not None and all(
            ref() is engine for ref, engine in zip(found[0], engines, strict=True)
        ):
            return found[1]
        maker = KeyMaker([self._hop(m, aligned, hypotheses) for m in models], source, target)
        if len(self._makers) >= _MAX_KEY_MAKERS:
            self._makers.clear()
        self._makers[memo] = (tuple(weakref.ref(e) for e in engines), maker)
        return maker

    def _hop(self, model: ServedModel, aligned: bool, hypotheses: int) -> Hop:
        identity = model.identity
        assert identity is not None  # a served (READY) model
        return Hop(
            model.spec.name,
            identity.weights,
            identity.engine,
            identity.compute_type,
            _engine_version(identity.engine),
            {
                "generation": dataclasses.asdict(model.settings),
                "output_ratio": self.config.output_ratio,
                "output_extra": self.config.output_extra,
                "sentence_limit": min(self.config.max_sentence_tokens, model.max_input_tokens),
                "aligned": aligned,
                "hypotheses": hypotheses,
                "low_confidence_below": model.low_confidence_below,
            },
        )

    def run(self, inputs: dict[bytes, str], run: Run, ctx: RequestContext) -> dict[bytes, UnitWork]:
        """The result for every key of `inputs` (key -> NFC unit text): hits from the cache,
        misses translated by `run` in one call (this request leads them), and units in flight
        for another request waited for.

        Every led unit is translated and put before any flight is waited on, so a waiting
        request never holds a leadership that others wait for: two requests that each lead
        one unit and follow the other's cannot wait on each other. A followed unit whose
        leader gave up (an error, a cancelled or late request) is looked up again, and led
        here when nobody leads it by then: its leader's error is never ours."""
        found: dict[bytes, UnitWork] = {}
        pending = list(inputs)
        while pending:
            follow = self._lead(pending, inputs, run, found)
            pending = []
            for key, flight in follow.items():
                value = _wait(flight, ctx)
                if value is None:
                    pending.append(key)
                else:
                    # Joined another request's unit: no engine time of ours, as for a hit.
                    found[key] = _work(value)
        return found

    def _lead(
        self, keys: list[bytes], inputs: dict[bytes, str], run: Run, found: dict[bytes, UnitWork]
    ) -> dict[bytes, Flight]:
        """Look `keys` up: hits go into `found`, the flights of units other requests lead are
        returned (to wait on afterwards), and the misses, which this request now leads, are
        translated in one call and put (which wakes their followers) into the cache and
        `found`. Whatever stops it (an engine error, a cancellation, the deadline, anything
        else) abandons the keys led and not yet put, so no follower waits on them in vain."""
        follow: dict[bytes, Flight] = {}
        lead: list[bytes] = []
        settled: set[bytes] = set()
        try:
            for key in keys:
                answer = self.cache.lookup(key)
                if answer is None:
                    lead.append(key)
                elif isinstance(answer, Flight):
                    follow[key] = answer
                else:
                    found[key] = _work(answer)
            if lead:
                for key, work in zip(lead, run([inputs[key] for key in lead]), strict=True):
                    value = CachedUnit(
                        work.text, _links(work), work.truncated, work.quality, work.alternatives
                    )
                    self.cache.put(key, value)
                    settled.add(key)
                    found[key] = work
        finally:
            for key in lead:
                if key not in settled:
                    self.cache.abandon(key)
        return follow


def _links(work: UnitWork) -> Alignment | None:
    return None if work.alignment is None else tuple(work.alignment)


def _work(value: CachedUnit) -> UnitWork:
    return UnitWork(
        value.text,
        value.alignment,
        value.truncated,
        value.quality,
        cached=True,
        alternatives=value.alternatives,
    )


def _wait(flight: Flight, ctx: RequestContext) -> CachedUnit | None:
    """The value another request's flight settles with (None: its leader gave up), waited for
    within this request's deadline. A cancellation wakes the wait at once (the hook is removed
    after); a cancelled or late request raises its error as `ctx.check` does."""
    remove = ctx.on_cancel(flight.wake)
    try:
        while not flight.wait(ctx.remaining(), stop=lambda: ctx.cancelled):
            ctx.check()
    finally:
        remove()
    return flight.value


@functools.cache
def _engine_version(kind: str) -> str:
    return engine_version(kind)
