"""ProcessArticle: one call per news article. Read it once (title and body parsed once, the
language detected once), translate title and body into each target, summarize once in English
and translate that summary into each summary language.

Stages run concurrently, so that their sentences meet in the scheduler's batches. A stage that
fails reports its error and leaves the others alone; only a cancelled or expired request, or a
shutting-down server, fails the whole call.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from newsmt.core.context import RequestContext
from newsmt.core.errors import (
    Cancelled,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    NewsmtError,
    ServiceUnavailable,
)
from newsmt.core.safelog import describe
from newsmt.pipeline.budget import TextBudget, model_chars
from newsmt.pipeline.detect import LanguageDetection, not_served
from newsmt.pipeline.documents import Format, Glossary, Scan, merge_terms, scan
from newsmt.pipeline.faithfulness import Faithfulness
from newsmt.pipeline.quality import SegmentQuality, combine
from newsmt.pipeline.results import SourceText
from newsmt.pipeline.summarize import Handling, Length, LongInput, Summarizer, Summary
from newsmt.pipeline.translate import Translator

log = logging.getLogger(__name__)

#: Errors that end the whole call rather than one stage.
_FATAL = (Cancelled, DeadlineExceeded, ServiceUnavailable)


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    body: str
    source: str
    targets: tuple[str, ...]
    summary_languages: tuple[str, ...]
    length: Length = field(default_factory=Length)
    policy: LongInput = LongInput.CHUNK
    #: How title and body are written; summaries read the body without its markup.
    format: Format = "plain"
    glossary: Glossary | None = None
    #: What title and body may send to the models together (None: no limit).
    budget: TextBudget | None = None


@dataclass(frozen=True)
class ArticleTranslation:
    target: str
    title: str = ""
    body: str = ""
    route: tuple[str, ...] = ()
    demo: bool = False
    truncated: bool = False
    error: NewsmtError | None = None
    applied_terms: tuple[str, ...] = ()
    missed_terms: tuple[str, ...] = ()
    markup_degraded: bool = False
    quality: SegmentQuality | None = None


@dataclass(frozen=True)
class ArticleSummary:
    language: str
    summary: Summary | None = None
    error: NewsmtError | None = None


@dataclass(frozen=True)
class ArticleResult:
    id: str
    source: str
    confidence: float
    translations: list[ArticleTranslation] = field(default_factory=list)
    summaries: list[ArticleSummary] = field(default_factory=list)

    @property
    def demo(self) -> bool:
        return any(t.demo for t in self.translations) or any(
            s.summary is not None and s.summary.demo for s in self.summaries
        )


@dataclass(frozen=True)
class _English:
    """The English summary, made once per article, before it is translated per language."""

    summary: str
    handling: Handling
    route: tuple[str, ...]
    demo: bool
    faithfulness: Faithfulness | None


class ArticleProcessor:
    def __init__(
        self,
        translator: Translator,
        summarizer: Summarizer,
        detector: LanguageDetection,
        stage_pool: ThreadPoolExecutor,
    ) -> None:
        self.translator = translator
        self.summarizer = summarizer
        self.detector = detector
        self._stages = stage_pool

    def process(self, article: Article, ctx: RequestContext) -> ArticleResult:
        title, body = scan(article.title, article.format), scan(article.body, article.format)
        source, confidence = (article.source, 1.0)
        if not source:
            found = self.detector.identify(f"{title.plain_text()}\n\n{body.plain_text()}")
            if found.code and not found.served:
                raise not_served("body", found)
            source, confidence = found.code, found.confidence
        read = [
            _read(article.title, title, source, confidence),
            _read(article.body, body, source, confidence),
        ]
        if article.budget is not None:
            for field, text in zip(("title", "body"), read, strict=True):
                if text.doc is not None:
                    article.budget.spend(field, model_chars(text.doc))
        translations = [
            self._stages.submit(self._translate, article, read, target, ctx)
            for target in article.targets
        ]
        summaries: list[ArticleSummary] = []
        if article.summary_languages:
            # The English summary is made once, here, and then translated per language.
            # Waiting in this thread (not in a stage) keeps stages from waiting on each other.
            try:
                english = self._english_summary(article, body.plain_text(), source, ctx)
            except Exception as exc:
                error = _as_error(exc, ctx)
                summaries = [
                    ArticleSummary(lang, error=error) for lang in article.summary_languages
                ]
            else:
                futures = [
                    self._stages.submit(
                        self._summary, english, source, confidence, lang, article.glossary, ctx
                    )
                    for lang in article.summary_languages
                ]
                summaries = [f.result() for f in futures]
        result = ArticleResult(
            article.id, source, confidence, [f.result() for f in translations], summaries
        )
        errors: list[NewsmtError | None] = [t.error for t in result.translations]
        errors += [s.error for s in result.summaries]
        for failure in errors:
            if isinstance(failure, _FATAL):
                raise failure
        return result

    def _translate(
        self, article: Article, read: list[SourceText], target: str, ctx: RequestContext
    ) -> ArticleTranslation:
        try:
            if not read[0].language and (article.title + article.body).strip():
                raise _undetectable()
            title, body = self.translator.translate_read(
                read, target, ctx, glossary=article.glossary
            )
        except Exception as exc:  # one stage's failure must not lose the others
            return ArticleTranslation(target, error=_as_error(exc, ctx))
        applied, missed = merge_terms((t.applied_terms, t.missed_terms) for t in (title, body))
        return ArticleTranslation(
            target,
            title.text,
            body.text,
            body.route or title.route,
            title.demo or body.demo,
            title.truncated or body.truncated,
            applied_terms=applied,
            missed_terms=missed,
            markup_degraded=title.markup_degraded or body.markup_degraded,
            quality=combine([q for q in (title.quality, body.quality) if q is not None]),
        )

    def _english_summary(
        self, article: Article, body: str, source: str, ctx: RequestContext
    ) -> _English:
        """The English summary of `body` (the article's body without its markup)."""
        if not source and article.body.strip():
            raise _undetectable()
        english, route, demo = self.summarizer.to_english(body, source, ctx)
        summary, handling, used = self.summarizer.summarize_english(
            english, article.length, article.policy, ctx
        )
        return _English(
            summary, handling, route + used, demo, self.summarizer.check(english, summary)
        )

    def _summary(
        self,
        english: _English,
        source: str,
        confidence: float,
        language: str,
        glossary: Glossary | None,
        ctx: RequestContext,
    ) -> ArticleSummary:
        try:
            summary = self.summarizer.finish(
                english.summary,
                english.handling,
                source,
                confidence,
                language,
                english.route,
                english.demo,
                ctx,
                glossary=glossary,
                faithfulness=english.faithfulness,
            )
        except Exception as exc:
            return ArticleSummary(language, error=_as_error(exc, ctx))
        return ArticleSummary(language, summary)


def _read(text: str, scanned: Scan, language: str, confidence: float) -> SourceText:
    """A title or body, its sentences cut for the article's language."""
    doc = scanned.document(language) if language else None
    return SourceText(text, language, confidence, doc)


def _undetectable() -> NewsmtError:
    return InvalidArgument.field(
        "source_language_code", "the article's language could not be detected; set it"
    )


def _as_error(exc: Exception, ctx: RequestContext) -> NewsmtError:
    if isinstance(exc, NewsmtError):
        return exc
    log.error("article stage failed (request %s): %s", ctx.request_id, describe(exc))
    return Internal("internal error in this stage")
