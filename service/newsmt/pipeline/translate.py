"""Translation of whole texts: detect, segment, route (direct or pivot through English),
batch through the scheduler, reassemble."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from newsmt.core import languages
from newsmt.core.context import RequestContext
from newsmt.core.errors import InvalidArgument
from newsmt.models.pool import ModelPool, ServedModel
from newsmt.models.registry import ModelSpec
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.detect import LanguageDetection
from newsmt.pipeline.runaway import cut_loop
from newsmt.pipeline.segment import Piece, fit, segment


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
    ) -> list[Translated]:
        """Translate `texts` into `target`. An empty `source` means: detect per text."""
        detected = [(source, 1.0) if source else self.detector.detect(text) for text in texts]
        results: list[Translated | None] = [None] * len(texts)
        by_source: dict[str, list[int]] = {}
        for i, (lang, _) in enumerate(detected):
            by_source.setdefault(lang, []).append(i)
        for lang, indexes in by_source.items():
            group = [texts[i] for i in indexes]
            if not lang:
                # Nothing detectable (empty, digits, punctuation): returned as it came.
                outputs: list[tuple[str, tuple[str, ...], bool, bool]] = [
                    (text, (), False, False) for text in group
                ]
            else:
                outputs = self._translate_group(group, lang, target, ctx)
            for i, (text, route, demo, truncated) in zip(indexes, outputs, strict=True):
                lang_i, confidence = detected[i]
                results[i] = Translated(text, lang_i, confidence, route, demo, truncated)
        return [r for r in results if r is not None]

    def _translate_group(
        self, texts: list[str], source: str, target: str, ctx: RequestContext
    ) -> list[tuple[str, tuple[str, ...], bool, bool]]:
        specs = self.route(source, target)
        models = [self.pool.get(spec.name) for spec in specs]  # fail before any model work
        docs = [segment(text, source) for text in texts]
        truncated = [False] * len(texts)
        for model in models:
            docs, cut = self._hop(docs, model, ctx)
            truncated = [a or b for a, b in zip(truncated, cut, strict=True)]
        route = tuple(m.spec.name for m in models)
        demo = any(m.demo for m in models)
        out = []
        for doc, was_cut in zip(docs, truncated, strict=True):
            reached = any(p.translate for p in doc)
            out.append(
                ("".join(p.text for p in doc), route if reached else (), demo and reached, was_cut)
            )
        return out

    def _hop(
        self, docs: list[list[Piece]], model: ServedModel, ctx: RequestContext
    ) -> tuple[list[list[Piece]], list[bool]]:
        """Run every sentence of every doc through one model, in one scheduler submission."""
        engine, batcher = model.engine, model.batcher
        assert engine is not None and batcher is not None
        limit = min(self.config.max_sentence_tokens, engine.max_input_tokens)
        encoded: dict[str, list[str]] = {}

        def count(text: str) -> int:
            if text not in encoded:
                encoded[text] = engine.encode(text)
            return len(encoded[text])

        docs = [fit(doc, count, limit) for doc in docs]
        where = [
            (d, p) for d, doc in enumerate(docs) for p, piece in enumerate(doc) if piece.translate
        ]
        rows = [encoded.get(docs[d][p].text) or engine.encode(docs[d][p].text) for d, p in where]
        bounds = [self._output_bound(len(row), engine.settings.max_length) for row in rows]
        ctx.check()
        outputs = batcher.submit(rows, ctx, max_new_tokens=bounds)
        new_docs = [list(doc) for doc in docs]
        cut = [False] * len(docs)
        for (d, p), row, output, bound in zip(where, rows, outputs, bounds, strict=True):
            kept, looped = cut_loop(output)
            # A loop the source itself has ("ha ha ha ha") is content, not a runaway.
            if looped and cut_loop([t for t in row if t not in engine.special_tokens])[1]:
                kept, looped = output, False
            new_docs[d][p] = Piece(engine.decode(kept), translate=True)
            cut[d] = cut[d] or looped or len(output) >= engine.content_limit(bound)
        return new_docs, cut

    def _output_bound(self, input_tokens: int, model_max: int) -> int:
        bound = int(self.config.output_ratio * input_tokens) + self.config.output_extra
        return max(1, min(bound, model_max))
