"""Translation of whole documents: parse (plain text, HTML or Markdown) into units, detect,
route (direct or pivot through English), batch every unit's sentences through the scheduler,
repair protected spans and glossary terms through the alignment, and put the document back
together around the translations."""

from __future__ import annotations

import dataclasses
import functools
import threading
import unicodedata
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from newsmt.core import languages
from newsmt.core.context import RequestContext
from newsmt.core.errors import InvalidArgument
from newsmt.engines.base import Engine
from newsmt.models.pool import ModelPool, ServedModel
from newsmt.models.registry import ModelSpec
from newsmt.pipeline.cache import (
    CachedUnit,
    Flight,
    Hop,
    KeyMaker,
    TranslationCache,
    engine_version,
    normalize_unit,
)
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.detect import LanguageDetection
from newsmt.pipeline.documents import (
    Alignment,
    Document,
    Format,
    Glossary,
    TokenLink,
    Unit,
    UnitOutput,
    attention_to_alignment,
    compose,
    merge_pieces,
    merge_reports,
    parse,
    render,
    token_spans,
)
from newsmt.pipeline.documents.finish import Finished, finish_unit, terms
from newsmt.pipeline.documents.render import piece_spans, render_pieces
from newsmt.pipeline.quality import (
    Flag,
    SegmentQuality,
    SentenceQuality,
    Signals,
    aggregate,
    assess,
    compose_pivot,
)
from newsmt.pipeline.runaway import cut_loop
from newsmt.pipeline.segment import Piece, fit


@dataclass(frozen=True)
class Translated:
    text: str
    source: str
    confidence: float
    #: Registry names of the models that ran, in order; empty when no model was needed.
    route: tuple[str, ...]
    demo: bool
    #: At least one sentence reached the output-length bound and was cut there.
    truncated: bool
    #: Glossary sources whose target (or kept form) is in the output, and those that occurred
    #: in the input but whose target is not.
    applied_terms: tuple[str, ...] = ()
    missed_terms: tuple[str, ...] = ()
    #: Inline markup was placed by the fallback, not by the alignment.
    markup_degraded: bool = False
    #: Per-sentence quality signals rolled up; None when no model ran.
    quality: SegmentQuality | None = None
    #: The pieces a stream sends for this text, and how many of them were answered from the
    #: translation cache.
    units: int = 0
    cached_units: int = 0

    @property
    def applied(self) -> tuple[str, ...]:
        return self.applied_terms

    @property
    def missed(self) -> tuple[str, ...]:
        return self.missed_terms


@dataclass
class _UnitWork:
    """One unit on its way through the hops: its current text and its alignment to the
    unit's own text (None when unknown)."""

    text: str
    alignment: Sequence[TokenLink] | None
    truncated: bool = False
    quality: SentenceQuality | None = None
    #: Answered from the translation cache.
    cached: bool = False


@dataclass
class _Prepared:
    """One text, parsed and routed, before any model work."""

    text: str
    source: str
    confidence: float
    #: None: nothing detectable, the text comes back as it came (one piece).
    doc: Document | None
    models: list[ServedModel]
    #: The units a model must translate (none when the route is empty).
    todo: list[Unit]
    aligned: bool


@dataclass
class _Finishing:
    """What a prepared text collects as its units come back (keyed by unit index, so that
    the order units finish in does not matter)."""

    outputs: list[UnitOutput | None]
    reports: dict[int, Finished] = field(default_factory=dict)
    truncated: bool = False
    degraded: bool = False
    cached: set[int] = field(default_factory=set)
    qualities: dict[int, SentenceQuality] = field(default_factory=dict)
    works: dict[int, _UnitWork] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamedUnit:
    """One piece of a text's translation, as a stream sends it (see `piece_spans`)."""

    segment: int
    index: int
    source_start: int
    source_end: int
    text: str
    cached: bool
    truncated: bool
    #: Its sentence's quality; None where no model ran on it.
    quality: SegmentQuality | None


@dataclass(frozen=True)
class SegmentFinished:
    """Every piece of text `segment` has been sent; its whole result."""

    segment: int
    result: Translated


StreamItem = StreamedUnit | SegmentFinished

#: Units per scheduler submission of a stream, in order (the last size repeats). The first
#: unit goes alone, so that it is not held behind the article; the rest follow in growing
#: groups, so that the early ones come out first without making the late ones many.
STREAM_GROUPS = (1, 2, 4, 8, 16)

#: Submissions of one stream in flight at once after its first unit. Enough that the
#: scheduler plans the rest of an article together, into calls as full as a unary request's;
#: their ranks keep it serving them in document order.
STREAM_IN_FLIGHT = 8


class Translator:
    def __init__(
        self,
        pool: ModelPool,
        detector: LanguageDetection,
        config: PipelineConfig | None = None,
        *,
        cache: TranslationCache | None = None,
    ) -> None:
        self.pool = pool
        self.registry = pool.registry
        self.detector = detector
        self.config = config or PipelineConfig()
        #: Shared by every caller of this translator (Translate, streams, ProcessArticle and
        #: Summarize's translation hops). None or max_bytes=0: no caching.
        self.cache = cache if cache is not None and cache.enabled else None
        #: KeyMakers by (engines, aligned, source, target), each with weak references to the
        #: engines it was made for (`_key_maker`).
        self._makers: dict[tuple[object, ...], tuple[tuple[weakref.ref[Engine], ...], KeyMaker]]
        self._makers = {}

    def route(self, source: str, target: str) -> list[ModelSpec]:
        """The models from `source` to `target`: none, one, or two through English."""
        if source == target:
            return []
        direct = self.registry.translator(source, target)
        if direct is not None:
            return [direct]
        first = self.registry.translator(source, languages.PIVOT)
        second = self.registry.translator(languages.PIVOT, target)
        if first is None or second is None:
            raise InvalidArgument.field(
                "target_language_code", f"no translation route from {source!r} to {target!r}"
            )
        return [first, second]

    def translate(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        ctx: RequestContext,
        *,
        fmt: Format = "plain",
        glossary: Glossary | None = None,
    ) -> list[Translated]:
        """Translate `texts` (documents in `fmt`) into `target`. An empty `source` means:
        detect per text, on the text without its markup."""
        prepared = self._prepare(texts, source, target, fmt, glossary)
        # One scheduler submission per hop for every unit that shares a route.
        by_route = _by_route(prepared)
        done: dict[tuple[int, int], _UnitWork] = {}
        for members in by_route.values():
            first = prepared[members[0][0]]
            aligned = first.aligned
            works = self._units(
                [unit for _, unit in members],
                first.models,
                first.source,
                target,
                ctx,
                aligned=aligned,
                glossary=glossary,
            )
            for (p, unit), work in zip(members, works, strict=True):
                done[(p, unit.index)] = work
        out = []
        for p, item in enumerate(prepared):
            found = {unit.index: done[(p, unit.index)] for unit in item.todo}
            state = self._finish(item, found, glossary) if item.doc is not None else None
            out.append(self._translated(item, state))
        return out

    # -- preparing, finishing ----------------------------------------------------------------

    def _detect(self, text: str, fmt: Format) -> tuple[str, float]:
        if fmt == "plain":
            return self.detector.detect(text)
        return self.detector.detect(plain_text(parse(text, fmt, languages.PIVOT)))

    def _prepare(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        fmt: Format,
        glossary: Glossary | None,
    ) -> list[_Prepared]:
        """Detect, parse and route every text; fails (unsupported pair, model not ready)
        before any model work."""
        out: list[_Prepared] = []
        for text in texts:
            lang, confidence = (source, 1.0) if source else self._detect(text, fmt)
            if not lang:
                # Nothing detectable (empty, digits, punctuation): returned as it came.
                out.append(_Prepared(text, lang, confidence, None, [], [], False))
                continue
            specs = self.route(lang, target)
            models = [self.pool.get(spec.name) for spec in specs]
            doc = parse(text, fmt, lang)
            todo = [unit for unit in doc.units if unit.needs_model] if models else []
            # Alignments cost an engine extra work: ask only where markup, protected spans
            # or glossary terms need them.
            aligned = fmt != "plain" or bool(glossary) or any(unit.protected for unit in todo)
            out.append(_Prepared(text, lang, confidence, doc, models, todo, aligned))
        # Texts that share a route share one answer to "alignments?" (their units may share a
        # submission): the same in a stream as in Translate, so that both agree.
        for members in _by_route(out).values():
            aligned = any(out[p].aligned for p, _ in members)
            for p, _ in members:
                out[p].aligned = aligned
        return out

    def _finish(
        self, item: _Prepared, works: dict[int, _UnitWork], glossary: Glossary | None
    ) -> _Finishing:
        """Repair each translated unit of `item` (protected spans, glossary terms)."""
        assert item.doc is not None
        state = _Finishing([None] * len(item.doc.units))
        for index, work in works.items():
            self._finish_unit(item, state, index, work, glossary)
        return state

    def _finish_unit(
        self,
        item: _Prepared,
        state: _Finishing,
        index: int,
        w: _UnitWork,
        glossary: Glossary | None,
    ) -> None:
        assert item.doc is not None
        unit = item.doc.units[index]
        finished = finish_unit(unit, w.text, w.alignment, glossary)
        state.outputs[index] = finished.output
        if finished.protected_missing:
            # The alignment could not place them: put each back near its relative place.
            text = _insert_spans(unit, finished.output[0], finished.protected_missing)
            state.outputs[index] = (text, None)
            state.degraded = True
        state.reports[index] = finished
        state.works[index] = w
        state.truncated = state.truncated or w.truncated
        if w.cached:
            state.cached.add(index)
        if w.quality is not None:
            state.qualities[index] = w.quality

    def _translated(self, item: _Prepared, state: _Finishing | None) -> Translated:
        """The response for one text whose units are all finished."""
        if item.doc is None or state is None:
            return Translated(
                item.text,
                item.source,
                item.confidence,
                (),
                False,
                False,
                units=int(bool(item.text)),
            )
        rendered = render(item.doc, state.outputs)
        applied, missed = merge_reports([state.reports[i] for i in sorted(state.reports)])
        reached = bool(item.todo)
        spans = piece_spans(item.doc)
        return Translated(
            rendered.text,
            item.source,
            item.confidence,
            tuple(m.spec.name for m in item.models) if reached else (),
            any(m.demo for m in item.models) and reached,
            state.truncated,
            applied,
            missed,
            rendered.markup_degraded or state.degraded,
            aggregate([state.qualities[i] for i in sorted(state.qualities)])
            if state.qualities
            else None,
            units=len(spans),
            cached_units=sum(1 for span in spans if span.unit in state.cached),
        )

    # -- streaming ---------------------------------------------------------------------------

    def translate_stream(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        ctx: RequestContext,
        *,
        fmt: Format = "plain",
        glossary: Glossary | None = None,
    ) -> Iterator[StreamItem]:
        """`translate`, piece by piece: for each text in order, its pieces in document order
        (each as soon as it and every piece before it are ready), then its SegmentFinished.
        The pieces of a text joined are `translate`'s text for it.

        The first unit that needs a model goes to the scheduler alone, so that it is not held
        behind the whole article or batched with it. As soon as it is in an engine call (or
        done: a cache hit), so that nothing can join its call but an engine's other parallel
        calls can start on what follows, the rest goes in groups in
        document order (`STREAM_GROUPS`, up to `STREAM_IN_FLIGHT` at once), ranked in that
        order, so the scheduler batches them as it does a unary request but serves the earlier
        ones first. Closing the iterator (a cancelled stream) drops the groups not yet
        submitted; the request's cancellation withdraws those queued in the scheduler, and so
        does the first unit's failure, so that the stream ends with that error at no further
        engine cost."""
        prepared = self._prepare(texts, source, target, fmt, glossary)
        groups = _stream_groups(prepared)
        where = {(p, unit.index): g for g, members in enumerate(groups) for p, unit in members}
        pool = ThreadPoolExecutor(1 + STREAM_IN_FLIGHT, thread_name_prefix="stream")
        try:
            futures: list[Future[list[_UnitWork]]] = []
            if groups:
                part, rest = ctx.child(), ctx.child()
                started = part.engine_started
                assert started is not None

                def lead_done(lead: Future[list[_UnitWork]]) -> None:
                    # Should the first unit fail, the rest is withdrawn: the stream ends
                    # with that unit's error, and no more engine time goes to it.
                    if lead.exception() is not None:
                        rest.cancel()
                    started.set()

                lead = pool.submit(self._group, prepared, groups[0], target, part, glossary, 0)
                lead.add_done_callback(lead_done)
                futures = [
                    lead,
                    *(
                        pool.submit(
                            self._group, prepared, members, target, rest, glossary, g, started
                        )
                        for g, members in enumerate(groups[1:], 1)
                    ),
                ]
            states = [
                _Finishing([None] * len(item.doc.units)) if item.doc is not None else None
                for item in prepared
            ]
            taken = [False] * len(groups)

            def ready(g: int) -> None:
                if taken[g]:
                    return
                works = futures[g].result()
                taken[g] = True
                for (p, unit), work in zip(groups[g], works, strict=True):
                    state = states[p]
                    assert state is not None
                    self._finish_unit(prepared[p], state, unit.index, work, glossary)

            for p, item in enumerate(prepared):
                state = states[p]
                if item.doc is None or state is None:
                    if item.text:
                        yield StreamedUnit(p, 0, 0, len(item.text), item.text, False, False, None)
                    yield SegmentFinished(p, self._translated(item, None))
                    continue
                for k, span in enumerate(piece_spans(item.doc)):
                    for index in span.needs:
                        g = where.get((p, index))
                        if g is not None:
                            ready(g)
                    piece = render_pieces(item.doc, state.outputs, [span])[0]
                    work = state.works.get(span.unit) if span.unit is not None else None
                    quality = state.qualities.get(span.unit) if span.unit is not None else None
                    yield StreamedUnit(
                        p,
                        k,
                        span.source_start,
                        span.source_end,
                        piece.text,
                        work is not None and work.cached,
                        work is not None and work.truncated,
                        aggregate([quality]) if quality is not None else None,
                    )
                yield SegmentFinished(p, self._translated(item, state))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _group(
        self,
        prepared: list[_Prepared],
        members: list[tuple[int, Unit]],
        target: str,
        ctx: RequestContext,
        glossary: Glossary | None,
        rank: int,
        after: threading.Event | None = None,
    ) -> list[_UnitWork]:
        """One submission of a stream: `members` (units of one route) through the cache and
        the models, its rows ranked `rank` in the scheduler; with `after`, once that is set
        (the stream's first submission is in an engine call, or over)."""
        if after is not None:
            remaining = ctx.remaining()
            after.wait(None if remaining is None else max(0.0, remaining))
        ctx.check()
        first = prepared[members[0][0]]
        return self._units(
            [unit for _, unit in members],
            first.models,
            first.source,
            target,
            ctx,
            aligned=first.aligned,
            glossary=glossary,
            rank=rank,
        )

    # -- units through the cache and the models ----------------------------------------------

    def _units(
        self,
        units: Sequence[Unit],
        models: Sequence[ServedModel],
        source: str,
        target: str,
        ctx: RequestContext,
        *,
        aligned: bool,
        glossary: Glossary | None,
        rank: int = 0,
    ) -> list[_UnitWork]:
        """Each unit through every hop of `models`, or from the cache: its output, with the
        alignment to the unit's own text. Units are fed to the models in NFC (the form the
        cache keys by), so a hit and a miss give the same answer.

        With a cache, units that share a key are translated once (the first of them) and every
        copy gets that result; a unit another request is translating now is waited for rather
        than translated again (`_through_cache`)."""
        inputs = [normalize_unit(unit.text) for unit in units]
        if self.cache is None:
            works = self._run_hops(inputs, models, ctx, aligned, rank=rank)
        else:
            maker = self._key_maker(models, source, target, aligned)
            keys = [
                maker.key(text, _glossary_entries(unit, glossary))
                for unit, text in zip(units, inputs, strict=True)
            ]
            first: dict[bytes, str] = {}
            for key, text in zip(keys, inputs, strict=True):
                first.setdefault(key, text)
            found = self._through_cache(self.cache, first, models, ctx, aligned, rank=rank)
            # A copy is a unit of its own in the response: its own object, the same result.
            works = [dataclasses.replace(found[key]) for key in keys]
        return [
            _denormalize(unit.text, text, work)
            for unit, text, work in zip(units, inputs, works, strict=True)
        ]

    def _through_cache(
        self,
        cache: TranslationCache,
        inputs: dict[bytes, str],
        models: Sequence[ServedModel],
        ctx: RequestContext,
        aligned: bool,
        *,
        rank: int = 0,
    ) -> dict[bytes, _UnitWork]:
        """The result for every key of `inputs` (key -> NFC unit text): hits from the cache,
        misses translated here in one submission (this request leads them), and units in
        flight for another request waited for.

        Every led unit is translated and put before any flight is waited on, so a waiting
        request never holds a leadership that others wait for: two requests that each lead
        one unit and follow the other's cannot wait on each other. A followed unit whose
        leader gave up (an error, a cancelled or late request) is looked up again, and led
        here when nobody leads it by then: its leader's error is never ours."""
        found: dict[bytes, _UnitWork] = {}
        pending = list(inputs)
        while pending:
            follow = self._lead(cache, pending, inputs, models, ctx, aligned, found, rank=rank)
            pending = []
            for key, flight in follow.items():
                value = _wait(flight, ctx)
                if value is None:
                    pending.append(key)
                else:
                    # Joined another request's unit: no engine time of ours, as for a hit.
                    found[key] = _from_cache(value)
        return found

    def _lead(
        self,
        cache: TranslationCache,
        keys: list[bytes],
        inputs: dict[bytes, str],
        models: Sequence[ServedModel],
        ctx: RequestContext,
        aligned: bool,
        found: dict[bytes, _UnitWork],
        *,
        rank: int = 0,
    ) -> dict[bytes, Flight]:
        """Look `keys` up: hits go into `found`, the flights of units other requests lead are
        returned (to wait on afterwards), and the misses, which this request now leads, are
        translated in one submission and put (which wakes their followers) into the cache and
        `found`. Whatever stops it (an engine error, a cancellation, the deadline, anything
        else) abandons the keys led and not yet put, so no follower waits on them in vain."""
        follow: dict[bytes, Flight] = {}
        lead: list[bytes] = []
        settled: set[bytes] = set()
        try:
            for key in keys:
                answer = cache.lookup(key)
                if answer is None:
                    lead.append(key)
                elif isinstance(answer, Flight):
                    follow[key] = answer
                else:
                    found[key] = _from_cache(answer)
            if lead:
                fresh = self._run_hops(
                    [inputs[key] for key in lead], models, ctx, aligned, rank=rank
                )
                for key, work in zip(lead, fresh, strict=True):
                    cache.put(key, _to_cache(work))
                    settled.add(key)
                    found[key] = work
        finally:
            for key in lead:
                if key not in settled:
                    cache.abandon(key)
        return follow

    def _key_maker(
        self, models: Sequence[ServedModel], source: str, target: str, aligned: bool
    ) -> KeyMaker:
        """The KeyMaker of a route, made once while its engines stay loaded. Every input of a
        hop's record (identity, calibration threshold, engine settings) is set when the engine
        is, and this translator's config never changes: the same engine objects mean the same
        record. Weak references, checked on every use, make a reloaded model (a new engine
        object, even at a reused address) a miss here and keep no unloaded engine alive."""
        engines: list[Engine] = []
        for model in models:
            assert model.engine is not None  # a served (READY) model
            engines.append(model.engine)
        memo = (*(id(e) for e in engines), aligned, source, target)
        found = self._makers.get(memo)
        if found is not None and all(
            ref() is engine for ref, engine in zip(found[0], engines, strict=True)
        ):
            return found[1]
        maker = KeyMaker([self._cache_hop(m, aligned) for m in models], source, target)
        if len(self._makers) >= _MAX_KEY_MAKERS:
            self._makers.clear()  # routes x languages x aligned: reached only by reloads
        self._makers[memo] = (tuple(weakref.ref(e) for e in engines), maker)
        return maker

    def _cache_hop(self, model: ServedModel, aligned: bool) -> Hop:
        engine = model.engine
        assert engine is not None
        identity = model.identity
        return Hop(
            model.spec.name,
            model.cache_identity or f"unnamed:{model.spec.name}",
            engine.kind,
            identity.compute_type if identity is not None else "",
            _engine_version(engine.kind),
            {
                "generation": dataclasses.asdict(engine.settings),
                "output_ratio": self.config.output_ratio,
                "output_extra": self.config.output_extra,
                "sentence_limit": min(self.config.max_sentence_tokens, engine.max_input_tokens),
                "aligned": aligned,
                "low_confidence_below": model.low_confidence_below,
            },
        )

    def _run_hops(
        self,
        texts: list[str],
        models: Sequence[ServedModel],
        ctx: RequestContext,
        aligned: bool,
        *,
        rank: int = 0,
    ) -> list[_UnitWork]:
        work = [_UnitWork(text, None) for text in texts]
        for hop, model in enumerate(models):
            done = self._hop([w.text for w in work], model, ctx, with_attention=aligned, rank=rank)
            for w, (text, alignment, cut, quality) in zip(work, done, strict=True):
                if hop == 0:
                    w.alignment = alignment
                elif w.alignment is not None and alignment is not None:
                    w.alignment = compose(w.alignment, alignment)
                else:
                    w.alignment = None
                w.text, w.truncated = text, w.truncated or cut
                # A pivot sentence: the lower Seq-Logprob of its hops, both hops' flags.
                w.quality = quality if w.quality is None else compose_pivot(w.quality, quality)
        return work

    def _hop(
        self,
        texts: list[str],
        model: ServedModel,
        ctx: RequestContext,
        *,
        with_attention: bool,
        rank: int = 0,
    ) -> list[tuple[str, Sequence[TokenLink] | None, bool, SentenceQuality]]:
        """Run every unit text through one model, in one scheduler submission: per unit, its
        translation, the alignment of the translation to the unit text (when asked and the
        engine gives one), whether a sentence was cut at its bound or in a loop, and its
        quality signals (a unit that `fit` split: its parts' together)."""
        engine, batcher = model.engine, model.batcher
        assert engine is not None and batcher is not None
        limit = min(self.config.max_sentence_tokens, engine.max_input_tokens)
        encoded: dict[str, list[str]] = {}

        def count(text: str) -> int:
            if text not in encoded:
                encoded[text] = engine.encode(text)
            return len(encoded[text])

        pieces = [fit([Piece(text, translate=True)], count, limit) for text in texts]
        where = [
            (u, p)
            for u, unit in enumerate(pieces)
            for p, piece in enumerate(unit)
            if piece.translate
        ]
        rows = [
            encoded.get(pieces[u][p].text) or engine.encode(pieces[u][p].text) for u, p in where
        ]
        bounds = [self._output_bound(len(row), engine.settings.max_length) for row in rows]
        ctx.check()
        generated = batcher.submit_full(
            rows, ctx, max_new_tokens=bounds, with_attention=with_attention, rank=rank
        )
        per_unit: list[list[tuple[str, Alignment | None]]] = [[] for _ in texts]
        signals: list[list[SentenceQuality]] = [[] for _ in texts]
        cut = [False] * len(texts)
        for (u, p), row, output, bound in zip(where, rows, generated, bounds, strict=True):
            tokens = output.tokens
            kept, looped = cut_loop(tokens)
            # A loop the source itself has ("ha ha ha ha") is content, not a runaway.
            if looped and cut_loop([t for t in row if t not in engine.special_tokens])[1]:
                kept, looped = tokens, False
            text = engine.decode(kept)
            alignment = None
            if output.attention is not None:
                source_spans = token_spans(
                    pieces[u][p].text,
                    row,
                    special=engine.special_tokens,
                    word_marker=engine.word_marker,
                )
                target_spans = token_spans(
                    text, kept, special=engine.special_tokens, word_marker=engine.word_marker
                )
                if source_spans is not None and target_spans is not None:
                    alignment = attention_to_alignment(
                        _words_only(pieces[u][p].text, source_spans),
                        _words_only(text, target_spans),
                        output.attention[: len(kept)],
                    )
            per_unit[u].append((text, alignment))
            at_bound = len(tokens) >= engine.content_limit(bound)
            cut[u] = cut[u] or looped or at_bound
            signals[u].append(
                assess(
                    pieces[u][p].text,
                    text,
                    source_lang=model.spec.source,
                    target_lang=model.spec.target,
                    truncated=at_bound,
                    loop_cut=looped,
                    mean_logprob=output.logprob,
                    low_confidence_below=model.low_confidence_below,
                    detect=self.detector.detect,
                )
            )
        out: list[tuple[str, Sequence[TokenLink] | None, bool, SentenceQuality]] = []
        for u in range(len(texts)):
            joined, links = merge_pieces(pieces[u], per_unit[u])
            out.append((joined, links, cut[u], functools.reduce(compose_pivot, signals[u])))
        return out

    def _output_bound(self, input_tokens: int, model_max: int) -> int:
        bound = int(self.config.output_ratio * input_tokens) + self.config.output_extra
        return max(1, min(bound, model_max))


def _glossary_entries(unit: Unit, glossary: Glossary | None) -> list[tuple[str, str, str]]:
    """The glossary entries that occur in `unit`, as its cache key records them."""
    return [
        (m.entry.source, m.entry.target, "i" if m.entry.ignore_case else "")
        for m in terms(unit, glossary)
    ]


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


def _insert_spans(unit: Unit, output: str, missing: Sequence[int]) -> str:
    """`output` with each protected span of `unit` that is missing from it (indexes into
    `unit.protected`) inserted at the word boundary nearest its relative place in the unit:
    URLs, addresses, handles and hashtags always come back, byte for byte."""
    for i in sorted(missing, key=lambda i: unit.protected[i].start, reverse=True):
        span = unit.protected[i]
        wanted = unit.text[span.start : span.end]
        if wanted in output:
            continue
        at = round(span.start / max(1, len(unit.text)) * len(output))
        space = output.find(" ", at)
        if at == 0:
            output = f"{wanted} {output}" if output else wanted
        elif space < 0:
            output = f"{output} {wanted}"
        else:
            output = f"{output[:space]} {wanted}{output[space:]}"
    return output


def _words_only(text: str, spans: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
    """Token spans with whitespace-only tokens (the identity engine has them) left unlinked:
    an alignment links words."""
    return [None if span is None or text[span[0] : span[1]].isspace() else span for span in spans]


def plain_text(doc: Document) -> str:
    """What a reader would read of a document, without its markup: each block's sentences
    joined by spaces, blocks by blank lines (attribute values left out). Plain text comes
    back as it is."""
    if doc.format == "plain":
        return doc.source
    blocks: dict[int, list[str]] = {}
    for unit in doc.units:
        if unit.kind == "sentence":
            blocks.setdefault(unit.block, []).append(unit.text)
    return "\n\n".join(" ".join(texts) for _, texts in sorted(blocks.items()))


# -- the cache's values ----------------------------------------------------------------------


def _by_route(prepared: Sequence[_Prepared]) -> dict[tuple[str, ...], list[tuple[int, Unit]]]:
    """The units that need a model, by (source, models of the route), in document order."""
    out: dict[tuple[str, ...], list[tuple[int, Unit]]] = {}
    for p, item in enumerate(prepared):
        if item.todo:
            route = (item.source, *(m.spec.name for m in item.models))
            out.setdefault(route, []).extend((p, unit) for unit in item.todo)
    return out


def _stream_groups(prepared: Sequence[_Prepared]) -> list[list[tuple[int, Unit]]]:
    """The units that need a model in stream order, cut into submissions: sizes from
    `STREAM_GROUPS` (the last repeated), a new group wherever the route changes."""
    groups: list[list[tuple[int, Unit]]] = []
    current: tuple[str, ...] | None = None
    for p, item in enumerate(prepared):
        route = (item.source, *(m.spec.name for m in item.models))
        for unit in item.todo:
            size = STREAM_GROUPS[min(len(groups) - 1, len(STREAM_GROUPS) - 1)] if groups else 0
            if not groups or route != current or len(groups[-1]) >= size:
                groups.append([])
                current = route
            groups[-1].append((p, unit))
    return groups


#: Bound on `Translator._makers`: far above what the served routes need.
_MAX_KEY_MAKERS = 256


@functools.cache
def _engine_version(kind: str) -> str:
    return engine_version(kind)


def _to_cache(work: _UnitWork) -> CachedUnit:
    """A unit's result as a cache value: the alignment as flat numbers, the quality as plain
    values (so that `entry_bytes` counts what is stored)."""
    links: tuple[int, ...] | None = None
    if work.alignment is not None:
        links = tuple(n for link in work.alignment for n in link)
    quality = None
    if work.quality is not None:
        q = work.quality
        quality = (
            tuple(sorted(flag.name for flag in q.flags)),
            q.mean_logprob,
            q.calibrated,
            tuple(dataclasses.astuple(signals) for signals in q.signals),
        )
    return CachedUnit(work.text, (links, quality), work.truncated)


def _from_cache(value: CachedUnit) -> _UnitWork:
    links, quality = value.alignment
    alignment = None
    if links is not None:
        alignment = tuple(TokenLink(*links[i : i + 4]) for i in range(0, len(links), 4))
    sentence = None
    if quality is not None:
        flags, mean_logprob, calibrated, signals = quality
        sentence = SentenceQuality(
            frozenset(Flag[name] for name in flags),
            mean_logprob,
            calibrated,
            tuple(Signals(*values) for values in signals),
        )
    return _UnitWork(value.text, alignment, value.truncated, sentence, cached=True)


def _denormalize(original: str, normalized: str, work: _UnitWork) -> _UnitWork:
    """`work` (the translation of `normalized`, the NFC form of `original`) made relative to
    `original`: alignment source offsets mapped back, and an output that is the normalized
    input itself (the identity engine, a copied sentence) given back as the original."""
    if original == normalized:
        return work
    where = _offset_map(original, normalized)
    text, alignment = work.text, work.alignment
    same = text == normalized
    if same:
        text = original
    if alignment is not None:
        if where is None:
            alignment = None
        else:
            alignment = tuple(
                TokenLink(
                    where[link.out_start] if same else link.out_start,
                    where[link.out_end] if same else link.out_end,
                    where[link.src_start],
                    where[link.src_end],
                )
                for link in alignment
            )
    return dataclasses.replace(work, text=text, alignment=alignment)


def _offset_map(original: str, normalized: str) -> list[int] | None:
    """For each offset into `normalized` (NFC of `original`, end included), the offset of the
    same place in `original`: exact at every starter, the nearest place inside a composed
    sequence. None when NFC composed across starters (Hangul jamo) and no such map exists."""
    chunks: list[str] = []
    for char in original:
        if chunks and unicodedata.combining(char):
            chunks[-1] += char
        else:
            chunks.append(char)
    where: list[int] = []
    at = 0
    parts: list[str] = []
    for chunk in chunks:
        part = normalize_unit(chunk)
        parts.append(part)
        where.extend(at + min(k, len(chunk)) for k in range(len(part)))
        at += len(chunk)
    if "".join(parts) != normalized:
        return None
    where.append(len(original))
    return where
