"""Translate: a request's texts read once (the language given or detected, each text parsed
once), routed (direct, or through English), every unit that needs a model sent through the
cache and the models in one submission per route, each unit repaired, and each text put back
together around its translations.

The `Translator` composes; the work is done by
- `documents`: parsing, the repairs after decoding, rendering;
- `hops`: texts through a route's models (encode, bound, batch, decode, alignment, quality);
- `unit_cache`: the translation cache and single flight; `nfc`: the form units travel in;
- `results`: each unit's repair as it comes back, and each text's response;
- `stream`: TranslateStream, piece by piece.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor

from newsmt.core import languages
from newsmt.core.context import RequestContext
from newsmt.core.errors import InvalidArgument
from newsmt.models.pool import ModelPool
from newsmt.models.registry import ModelSpec
from newsmt.pipeline.budget import TextBudget, model_chars
from newsmt.pipeline.cache import TranslationCache
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.detect import LanguageDetection, not_served
from newsmt.pipeline.documents import Format, Glossary, Unit, scan
from newsmt.pipeline.documents.finish import terms
from newsmt.pipeline.documents.glossary import TermMatch
from newsmt.pipeline.documents.render import piece_spans
from newsmt.pipeline.hops import Hops, UnitWork
from newsmt.pipeline.nfc import normalize, to_original
from newsmt.pipeline.results import (
    Finishing,
    Prepared,
    SourceText,
    Translated,
    assemble,
)
from newsmt.pipeline.stream import STREAM_IN_FLIGHT, StreamItem, stream
from newsmt.pipeline.unit_cache import UnitCache

#: A submission: (index of its text in the request, unit), all of one route.
Members = list[tuple[int, Unit]]


class Translator:
    def __init__(
        self,
        pool: ModelPool,
        detector: LanguageDetection,
        config: PipelineConfig | None = None,
        *,
        cache: TranslationCache | None = None,
        stages: Executor | None = None,
    ) -> None:
        self.pool = pool
        self.registry = pool.registry
        self.detector = detector
        self.config = config or PipelineConfig()
        self.hops = Hops(self.config, detector.detect)
        #: Shared by every caller of this translator (Translate, streams, ProcessArticle and
        #: Summarize's translation hops). None (or a cache of 0 bytes): no caching.
        enabled = cache is not None and cache.enabled
        self.unit_cache = UnitCache(cache, self.config) if cache is not None and enabled else None
        #: Where streams run their submissions: the server's stage pool, else one of ours,
        #: made on first use and shared by every stream of this translator.
        self._stages = stages
        self._stages_lock = threading.Lock()

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

    def read(
        self,
        texts: Sequence[str],
        source: str,
        fmt: Format,
        *,
        fields: Sequence[str] | None = None,
        budget: TextBudget | None = None,
    ) -> list[SourceText]:
        """Each text in `fmt`, parsed once: an empty `source` means detect, on the text without
        its markup, before the sentences (which depend on the language) are cut. A text in a
        language no route reads is InvalidArgument naming it, on its request field (`fields`,
        default ``texts[i]``); so is a text that overspends `budget` (what reaches a model)."""
        out: list[SourceText] = []
        for i, text in enumerate(texts):
            field = fields[i] if fields else f"texts[{i}]"
            scanned = scan(text, fmt)
            language, confidence = source, 1.0
            if not source:
                found = self.detector.identify(scanned.plain_text())
                if found.code and not found.served:
                    raise not_served(field, found)
                language, confidence = found.code, found.confidence
            doc = scanned.document(language) if language else None
            if budget is not None and doc is not None:
                budget.spend(field, model_chars(doc))
            out.append(SourceText(text, language, confidence, doc))
        return out

    def prepare(
        self,
        read: Sequence[SourceText],
        target: str,
        glossary: Glossary | None,
        *,
        alternatives: int = 0,
    ) -> list[Prepared]:
        """Route every text and find its units' glossary terms; fails (unsupported pair, model
        not ready) before any model work."""
        out: list[Prepared] = []
        for text in read:
            if text.doc is None:
                out.append(Prepared(text, target, [], [], aligned=False))
                continue
            models = [self.pool.get(spec.name) for spec in self.route(text.language, target)]
            todo = [unit for unit in text.doc.units if unit.needs_model] if models else []
            matches = {unit.index: found for unit in todo if (found := terms(unit, glossary))}
            # Alignments cost an engine extra work: ask only where markup, protected spans
            # or glossary terms need them.
            aligned = (
                text.doc.format != "plain" or bool(glossary) or any(unit.protected for unit in todo)
            )
            spans = piece_spans(text.doc)
            out.append(Prepared(text, target, models, todo, aligned, matches, spans, alternatives))
        # Texts that share a route share one answer to "alignments?" (their units may share a
        # submission): the same in a stream as in Translate, so that both agree.
        for members in _by_route(out).values():
            aligned = any(out[p].aligned for p, _ in members)
            for p, _ in members:
                out[p].aligned = aligned
        return out

    def translate(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        ctx: RequestContext,
        *,
        fmt: Format = "plain",
        glossary: Glossary | None = None,
        fields: Sequence[str] | None = None,
        budget: TextBudget | None = None,
        alternatives: int = 0,
    ) -> list[Translated]:
        """Translate `texts` (documents in `fmt`) into `target`. An empty `source` means:
        detect per text, on the text without its markup (`read`). `alternatives`: that many
        other translations of each text, where the model has them."""
        read = self.read(texts, source, fmt, fields=fields, budget=budget)
        return self.translate_read(read, target, ctx, glossary=glossary, alternatives=alternatives)

    def translate_read(
        self,
        read: Sequence[SourceText],
        target: str,
        ctx: RequestContext,
        *,
        glossary: Glossary | None = None,
        alternatives: int = 0,
    ) -> list[Translated]:
        """`translate` for texts already read (ProcessArticle reads an article once for all
        its targets)."""
        prepared = self.prepare(read, target, glossary, alternatives=alternatives)
        states = self.finish(prepared, ctx)
        return [assemble(item, state) for item, state in zip(prepared, states, strict=True)]

    def finish(self, prepared: Sequence[Prepared], ctx: RequestContext) -> list[Finishing | None]:
        """Every unit of every text through the cache and the models, one submission per
        route, each repaired as it comes back: per text, what `assemble` (or a file's writer)
        takes. None for a text with nothing detectable."""
        states = [Finishing.of(item) for item in prepared]
        for members in _by_route(prepared).values():
            for (p, unit), work in zip(members, self.units(members, prepared, ctx), strict=True):
                state = states[p]
                assert state is not None
                state.add(prepared[p], unit.index, work)
        return states

    def translate_stream(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        ctx: RequestContext,
        *,
        fmt: Format = "plain",
        glossary: Glossary | None = None,
        fields: Sequence[str] | None = None,
        budget: TextBudget | None = None,
        alternatives: int = 0,
    ) -> Iterator[StreamItem]:
        """`translate`, piece by piece (see `stream`): the pieces of a text joined are
        `translate`'s text for it; the alternatives come with each text's result."""
        read = self.read(texts, source, fmt, fields=fields, budget=budget)
        prepared = self.prepare(read, target, glossary, alternatives=alternatives)

        def run(
            members: Members, part: RequestContext, rank: int, on_engine: Callable[[], None] | None
        ) -> list[UnitWork]:
            return self.units(members, prepared, part, rank=rank, on_engine=on_engine)

        yield from stream(prepared, run, ctx, self._stage_pool())

    def units(
        self,
        members: Members,
        prepared: Sequence[Prepared],
        ctx: RequestContext,
        *,
        rank: int = 0,
        on_engine: Callable[[], None] | None = None,
    ) -> list[UnitWork]:
        """Each unit of `members` (one route) through every hop, or from the cache: its output,
        with the alignment to the unit's own text. Units go to the models in NFC (the form the
        cache keys by), so a hit and a miss give the same answer; units that share a key are
        translated once and every copy gets that result."""
        first = prepared[members[0][0]]
        inputs = [normalize(unit.text) for _, unit in members]

        hypotheses = first.alternatives + 1

        def run(texts: list[str]) -> list[UnitWork]:
            return self.hops.run(
                texts,
                first.models,
                ctx,
                aligned=first.aligned,
                rank=rank,
                on_engine=on_engine,
                hypotheses=hypotheses,
            )

        if self.unit_cache is None:
            works = run(inputs)
        else:
            maker = self.unit_cache.key_maker(
                first.models, first.read.language, first.target, first.aligned, hypotheses
            )
            keys = [
                maker.key(text, _key_entries(prepared[p].matches.get(unit.index, ())))
                for (p, unit), text in zip(members, inputs, strict=True)
            ]
            leaders: dict[bytes, str] = {}
            for key, text in zip(keys, inputs, strict=True):
                leaders.setdefault(key, text)
            found = self.unit_cache.run(leaders, run, ctx)
            # A copy is a unit of its own in the response: its own object, the same result.
            works = [dataclasses.replace(found[key]) for key in keys]
        out: list[UnitWork] = []
        for (_, unit), text, work in zip(members, inputs, works, strict=True):
            work.text, work.alignment = to_original(unit.text, text, work.text, work.alignment)
            out.append(work)
        return out

    def _stage_pool(self) -> Executor:
        with self._stages_lock:
            if self._stages is None:
                self._stages = ThreadPoolExecutor(
                    4 * (1 + STREAM_IN_FLIGHT), thread_name_prefix="stream"
                )
            return self._stages


def _key_entries(matches: Sequence[TermMatch]) -> list[tuple[str, str, str]]:
    """The glossary entries that occur in a unit, as its cache key records them."""
    return [(m.entry.source, m.entry.target, "i" if m.entry.ignore_case else "") for m in matches]


def _by_route(prepared: Sequence[Prepared]) -> dict[tuple[str, ...], Members]:
    """The units that need a model, by route (source, models), in document order."""
    out: dict[tuple[str, ...], Members] = {}
    for p, item in enumerate(prepared):
        if item.todo:
            out.setdefault(item.route, []).extend((p, unit) for unit in item.todo)
    return out
