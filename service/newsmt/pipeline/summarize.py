"""Summaries in any language of text in any language.

The summarizer reads English, so other languages go through it: translate the input into
English, summarize, translate the summary into the requested language. Input longer than the
summarizer's window is summarized by map-reduce over window-sized chunks (cut at sentence
boundaries), unless the caller asked for truncation; the result always says which it was.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from newsmt.core import languages
from newsmt.core.context import RequestContext
from newsmt.core.errors import InvalidArgument, ModelUnavailable
from newsmt.models.pool import ModelPool, ServedModel
from newsmt.pipeline import faithfulness
from newsmt.pipeline.budget import TextBudget
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.detect import LanguageDetection, not_served
from newsmt.pipeline.documents import Format, Glossary, scan
from newsmt.pipeline.faithfulness import Faithfulness
from newsmt.pipeline.hops import strip_invalid
from newsmt.pipeline.segment import fit, segment, sentences
from newsmt.pipeline.translate import Translator


class LongInput(enum.Enum):
    CHUNK = "chunk"
    TRUNCATE = "truncate"
    REJECT = "reject"


class Mode(enum.Enum):
    WHOLE = "whole"
    CHUNKED = "chunked"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class Length:
    """At most one of the two is set; neither means the model's own length settings."""

    max_tokens: int | None = None
    max_sentences: int | None = None


@dataclass(frozen=True)
class Handling:
    mode: Mode
    chunks: int
    input_tokens: int
    window_tokens: int
    dropped_tokens: int = 0
    reduce_passes: int = 0


@dataclass(frozen=True)
class Summary:
    text: str
    source: str
    confidence: float
    target: str
    handling: Handling
    route: tuple[str, ...]
    demo: bool
    #: Checked against the text the summarizer read (English); None for an empty summary.
    faithfulness: Faithfulness | None = None
    #: The language of that text.
    checked_against: str = ""


class Summarizer:
    def __init__(
        self,
        pool: ModelPool,
        translator: Translator,
        detector: LanguageDetection,
        config: PipelineConfig | None = None,
    ) -> None:
        self.pool = pool
        self.translator = translator
        self.detector = detector
        self.config = config or PipelineConfig()

    def model(self) -> ServedModel:
        spec = self.pool.registry.summarizer()
        if spec is None:
            raise ModelUnavailable("summarizer", "not in the registry", "add one to the registry")
        return self.pool.get(spec.name)

    def summarize(
        self,
        text: str,
        source: str,
        target: str,
        length: Length,
        policy: LongInput,
        ctx: RequestContext,
        *,
        fmt: Format = "plain",
        budget: TextBudget | None = None,
    ) -> Summary:
        """Summarize `text` (a document in `fmt`: the summary reads it without its markup,
        and spends that from `budget`)."""
        text = scan(text, fmt).plain_text()
        if budget is not None:
            budget.spend("text", len(text))
        confidence = 1.0
        if not source:
            found = self.detector.identify(text)
            if found.code and not found.served:
                raise not_served("text", found)
            source, confidence = found.code, found.confidence
        if not source and text.strip():
            raise InvalidArgument.field(
                "source_language_code", "the text's language could not be detected; set it"
            )
        target = target or source or languages.PIVOT
        english, route, demo = self.to_english(text, source, ctx)
        summary, handling, used = self.summarize_english(english, length, policy, ctx)
        return self.finish(
            summary,
            handling,
            source,
            confidence,
            target,
            route + used,
            demo,
            ctx,
            faithfulness=self.check(english, summary),
        )

    def check(self, english: str, summary: str) -> Faithfulness | None:
        """The summary's faithfulness to the text the summarizer read (before the summary is
        translated out of English): a cross-lingual summary is judged where it was made."""
        return faithfulness.assess(english, summary) if summary.strip() else None

    def to_english(
        self, text: str, source: str, ctx: RequestContext
    ) -> tuple[str, tuple[str, ...], bool]:
        """The text in the summarizer's language, with the models that took it there."""
        model = self.model()  # fail fast, before translating for nothing
        if not source or source == model.spec.source:
            return text, (), False
        [english] = self.translator.translate([text], source, model.spec.source, ctx)
        return english.text, english.route, english.demo

    def finish(
        self,
        summary: str,
        handling: Handling,
        source: str,
        confidence: float,
        target: str,
        route: tuple[str, ...],
        demo: bool,
        ctx: RequestContext,
        *,
        glossary: Glossary | None = None,
        faithfulness: Faithfulness | None = None,
    ) -> Summary:
        """Translate an English summary into `target` (with the request's glossary, if any)
        and wrap it up."""
        model = self.model()
        demo = demo or (bool(summary) and model.demo)
        if target != model.spec.source and summary:
            [out] = self.translator.translate(
                [summary], model.spec.source, target, ctx, glossary=glossary
            )
            summary, route, demo = out.text, route + out.route, demo or out.demo
        return Summary(
            summary,
            source,
            confidence,
            target,
            handling,
            route,
            demo,
            faithfulness,
            model.spec.source if faithfulness is not None else "",
        )

    def summarize_english(
        self, text: str, length: Length, policy: LongInput, ctx: RequestContext
    ) -> tuple[str, Handling, tuple[str, ...]]:
        model = self.model()
        window = model.max_input_tokens
        tokens = model.encode(text) if text.strip() else []
        if not tokens:
            return "", Handling(Mode.WHOLE, 0, 0, window), ()
        used = (model.spec.name,)
        if len(tokens) <= window:
            summary = self._generate(model, [tokens], length, ctx)[0]
            return summary, Handling(Mode.WHOLE, 1, len(tokens), window), used
        if policy is LongInput.REJECT:
            raise InvalidArgument.field(
                "text",
                f"input is {len(tokens)} summarizer tokens, over the {window}-token window, "
                "and long_input_policy is REJECT",
            )
        if policy is LongInput.TRUNCATE:
            kept = [*tokens[: window - 1], tokens[-1]]  # keep the end-of-sequence marker
            summary = self._generate(model, [kept], length, ctx)[0]
            handling = Handling(
                Mode.TRUNCATED, 1, len(tokens), window, dropped_tokens=len(tokens) - window
            )
            return summary, handling, used
        chunks = self._chunks(text, model, window)
        partials = self._generate(model, [model.encode(c) for c in chunks], Length(), ctx)
        passes = 0
        joined = " ".join(p for p in partials if p)
        while model.count_tokens(joined) > window and passes < self.config.max_reduce_passes:
            parts = self._chunks(joined, model, window)
            joined = " ".join(
                p
                for p in self._generate(model, [model.encode(c) for c in parts], Length(), ctx)
                if p
            )
            passes += 1
        final = model.encode(joined)
        dropped = max(0, len(final) - window)
        if dropped:  # still too long after the pass limit: cut, and say so in dropped_tokens
            final = [*final[: window - 1], final[-1]]
        summary = self._generate(model, [final], length, ctx)[0]
        handling = Handling(
            Mode.CHUNKED,
            len(chunks),
            len(tokens),
            window,
            dropped_tokens=dropped,
            reduce_passes=passes + 1,
        )
        return summary, handling, used

    def _chunks(self, text: str, model: ServedModel, window: int) -> list[str]:
        """Window-sized runs of whole sentences (an over-long sentence is split first)."""
        overhead = model.count_tokens("")  # start/end markers
        budget = window - overhead
        pieces = fit(segment(text, "en"), lambda s: model.count_tokens(s) - overhead, budget)
        chunks: list[str] = []
        current: list[str] = []
        used = 0
        for sentence in (p.text for p in pieces if p.translate):
            n = model.count_tokens(sentence) - overhead + 1
            if current and used + n > budget:
                chunks.append(" ".join(current))
                current, used = [], 0
            current.append(sentence)
            used += n
        if current:
            chunks.append(" ".join(current))
        return chunks

    def _generate(
        self, model: ServedModel, rows: list[list[str]], length: Length, ctx: RequestContext
    ) -> list[str]:
        settings = model.settings
        max_new = settings.max_length
        min_new = settings.min_length
        if length.max_tokens:
            max_new = min(max_new, length.max_tokens)
            min_new = min(min_new, max_new // 2)
        ctx.check()
        outputs = model.generate(
            rows, ctx, max_new_tokens=[max_new] * len(rows), min_new_tokens=min_new
        )
        # Random demo weights emit control characters and U+FFFD: never hand them over
        # (unless the input itself has them).
        texts = [
            strip_invalid(model.decode(row), model.decode(out.tokens))
            for row, out in zip(rows, outputs, strict=True)
        ]
        if length.max_sentences:
            texts = [" ".join(sentences(t, "en")[: length.max_sentences]) for t in texts]
        return texts
