"""Translation of whole documents: parse (plain text, HTML or Markdown) into units, detect,
route (direct or pivot through English), batch every unit's sentences through the scheduler,
repair protected spans and glossary terms through the alignment, and put the document back
together around the translations."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from newsmt.core import languages
from newsmt.core.context import RequestContext
from newsmt.core.errors import InvalidArgument
from newsmt.models.pool import ModelPool, ServedModel
from newsmt.models.registry import ModelSpec
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
from newsmt.pipeline.documents.finish import Finished, finish_unit
from newsmt.pipeline.quality import (
    SegmentQuality,
    SentenceQuality,
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


@dataclass
class _Outcome:
    text: str
    route: tuple[str, ...] = ()
    demo: bool = False
    truncated: bool = False
    applied: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()
    degraded: bool = False
    quality: SegmentQuality | None = None


class Translator:
    def __init__(
        self,
        pool: ModelPool,
        detector: LanguageDetection,
        config: PipelineConfig | None = None,
    ) -> None:
        self.pool = pool
        self.registry = pool.registry
        self.detector = detector
        self.config = config or PipelineConfig()

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
        detected = [(source, 1.0) if source else self._detect(text, fmt) for text in texts]
        results: list[Translated | None] = [None] * len(texts)
        by_source: dict[str, list[int]] = {}
        for i, (lang, _) in enumerate(detected):
            by_source.setdefault(lang, []).append(i)
        for lang, indexes in by_source.items():
            group = [texts[i] for i in indexes]
            if not lang:
                # Nothing detectable (empty, digits, punctuation): returned as it came.
                outcomes = [_Outcome(text) for text in group]
            else:
                outcomes = self._translate_group(group, lang, target, ctx, fmt, glossary)
            for i, out in zip(indexes, outcomes, strict=True):
                lang_i, confidence = detected[i]
                results[i] = Translated(
                    out.text,
                    lang_i,
                    confidence,
                    out.route,
                    out.demo,
                    out.truncated,
                    out.applied,
                    out.missed,
                    out.degraded,
                    out.quality,
                )
        return [r for r in results if r is not None]

    def _detect(self, text: str, fmt: Format) -> tuple[str, float]:
        if fmt == "plain":
            return self.detector.detect(text)
        return self.detector.detect(plain_text(parse(text, fmt, languages.PIVOT)))

    def _translate_group(
        self,
        texts: list[str],
        source: str,
        target: str,
        ctx: RequestContext,
        fmt: Format,
        glossary: Glossary | None,
    ) -> list[_Outcome]:
        specs = self.route(source, target)
        models = [self.pool.get(spec.name) for spec in specs]  # fail before any model work
        docs = [parse(text, fmt, source) for text in texts]
        todo = [(d, unit) for d, doc in enumerate(docs) for unit in doc.units if unit.needs_model]
        if not models or not todo:
            return [_Outcome(render(doc, [None] * len(doc.units)).text) for doc in docs]
        # Alignments cost an engine extra work: ask only where markup, protected spans or
        # glossary terms need them.
        aligned = fmt != "plain" or bool(glossary) or any(unit.protected for _, unit in todo)
        work = [_UnitWork(unit.text, None) for _, unit in todo]
        for hop, model in enumerate(models):
            done = self._hop([w.text for w in work], model, ctx, with_attention=aligned)
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
        route = tuple(m.spec.name for m in models)
        demo = any(m.demo for m in models)
        outputs: list[list[UnitOutput | None]] = [[None] * len(doc.units) for doc in docs]
        reports: list[list[Finished]] = [[] for _ in docs]
        truncated = [False] * len(docs)
        degraded = [False] * len(docs)
        qualities: list[list[SentenceQuality]] = [[] for _ in docs]
        for (d, unit), w in zip(todo, work, strict=True):
            finished = finish_unit(unit, w.text, w.alignment, glossary)
            outputs[d][unit.index] = finished.output
            if finished.protected_missing:
                # The alignment could not place them: put each back near its relative place.
                text = _insert_spans(unit, finished.output[0], finished.protected_missing)
                outputs[d][unit.index] = (text, None)
                degraded[d] = True
            reports[d].append(finished)
            truncated[d] = truncated[d] or w.truncated
            if w.quality is not None:
                qualities[d].append(w.quality)
        out = []
        for d, doc in enumerate(docs):
            rendered = render(doc, outputs[d])
            applied, missed = merge_reports(reports[d])
            reached = any(unit.needs_model for unit in doc.units)
            out.append(
                _Outcome(
                    rendered.text,
                    route if reached else (),
                    demo and reached,
                    truncated[d],
                    applied,
                    missed,
                    rendered.markup_degraded or degraded[d],
                    aggregate(qualities[d]) if qualities[d] else None,
                )
            )
        return out

    def _hop(
        self, texts: list[str], model: ServedModel, ctx: RequestContext, *, with_attention: bool
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
            rows, ctx, max_new_tokens=bounds, with_attention=with_attention
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
