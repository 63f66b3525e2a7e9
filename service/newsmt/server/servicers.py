"""The thin edge: protobuf in, validated domain calls through the pipeline, protobuf out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import grpc

from newsmt.core import languages
from newsmt.core.errors import InvalidArgument, NewsmtError
from newsmt.models.pool import ModelState
from newsmt.pipeline.article import Article, ArticleProcessor, ArticleResult
from newsmt.pipeline.budget import TextBudget
from newsmt.pipeline.detect import LanguageDetection
from newsmt.pipeline.documents import Entry, Format, Glossary
from newsmt.pipeline.file_translate import FileTranslator
from newsmt.pipeline.quality import Flag, SegmentQuality
from newsmt.pipeline.results import Translated
from newsmt.pipeline.stream import StreamedUnit
from newsmt.pipeline.summarize import Handling, Length, LongInput, Mode, Summarizer, Summary
from newsmt.pipeline.translate import Translator
from newsmt.server.context import current_request
from newsmt.server.settings import Settings
from newsmt.server.status import rpc_method, rpc_stream, stage_code
from newsmt.server.validation import Checker
from newsmt.v1 import (
    article_pb2,
    article_pb2_grpc,
    common_pb2,
    summarization_pb2,
    summarization_pb2_grpc,
    translation_pb2,
    translation_pb2_grpc,
)

_POLICIES = {
    common_pb2.LONG_INPUT_POLICY_UNSPECIFIED: LongInput.CHUNK,
    common_pb2.LONG_INPUT_POLICY_CHUNK: LongInput.CHUNK,
    common_pb2.LONG_INPUT_POLICY_TRUNCATE: LongInput.TRUNCATE,
    common_pb2.LONG_INPUT_POLICY_REJECT: LongInput.REJECT,
}
_FORMATS: dict[int, Format] = {
    common_pb2.TEXT_FORMAT_UNSPECIFIED: "plain",
    common_pb2.TEXT_FORMAT_PLAIN: "plain",
    common_pb2.TEXT_FORMAT_HTML: "html",
    common_pb2.TEXT_FORMAT_MARKDOWN: "markdown",
}
_MODES = {
    Mode.WHOLE: common_pb2.InputHandling.MODE_WHOLE,
    Mode.CHUNKED: common_pb2.InputHandling.MODE_CHUNKED,
    Mode.TRUNCATED: common_pb2.InputHandling.MODE_TRUNCATED,
}
_STATES = {
    ModelState.READY: translation_pb2.ModelInfo.STATE_READY,
    ModelState.LOADING: translation_pb2.ModelInfo.STATE_LOADING,
    ModelState.MISSING: translation_pb2.ModelInfo.STATE_MISSING,
    ModelState.FAILED: translation_pb2.ModelInfo.STATE_FAILED,
}


def _translation_pb(
    segment_id: str, result: Translated, *, with_text: bool = True
) -> translation_pb2.Translation:
    return translation_pb2.Translation(
        id=segment_id,
        translated_text=result.text if with_text else "",
        detected_language=common_pb2.DetectedLanguage(
            language_code=result.source, confidence=result.confidence
        ),
        route=common_pb2.ModelRoute(models=result.route, demo=result.demo),
        output_truncated=result.truncated,
        applied_terms=result.applied_terms,
        missed_terms=result.missed_terms,
        markup_degraded=result.markup_degraded,
        quality=_quality_pb(result.quality),
        cached_units=result.cached_units,
        units=result.units,
        alternatives=result.alternatives,
    )


#: Other translations a TranslateRequest may ask for (LibreTranslate allows 3 too).
MAX_ALTERNATIVES = 3


def _segment_fields(request: translation_pb2.TranslateRequest) -> list[str]:
    return [f"segments[{i}].text" for i in range(len(request.segments))]


class TranslationServicer(translation_pb2_grpc.TranslationServiceServicer):
    def __init__(
        self, settings: Settings, translator: Translator, detector: LanguageDetection
    ) -> None:
        self.settings = settings
        self.translator = translator
        self.detector = detector
        self.files = FileTranslator(translator)

    def _translate_args(
        self, request: translation_pb2.TranslateRequest
    ) -> tuple[str, str, Format, Glossary | None, TextBudget, int]:
        check = Checker(self.settings)
        source = check.language(
            "source_language_code", request.source_language_code, required=False
        )
        target = check.language("target_language_code", request.target_language_code, required=True)
        check.count("segments", len(request.segments), self.settings.max_segments, "max_segments")
        for i, segment in enumerate(request.segments):
            check.document(f"segments[{i}].text", segment.text)
        fmt = _format(check, "format", request.format)
        glossary = _glossary(check, "glossary", request.glossary)
        if request.alternatives > MAX_ALTERNATIVES:
            check.fail("alternatives", f"is {request.alternatives}; at most {MAX_ALTERNATIVES}")
        check.done("segments")
        if source and target:
            self.translator.route(source, target)  # unsupported pair -> INVALID_ARGUMENT now
        return source, target, fmt, glossary, check.budget(), request.alternatives

    @rpc_method
    def Translate(
        self, request: translation_pb2.TranslateRequest, context: grpc.ServicerContext
    ) -> translation_pb2.TranslateResponse:
        source, target, fmt, glossary, budget, alternatives = self._translate_args(request)
        ctx = current_request()
        results = self.translator.translate(
            [s.text for s in request.segments],
            source,
            target,
            ctx,
            fmt=fmt,
            glossary=glossary,
            fields=_segment_fields(request),
            budget=budget,
            alternatives=alternatives,
        )
        return translation_pb2.TranslateResponse(
            translations=[
                _translation_pb(segment.id, result)
                for segment, result in zip(request.segments, results, strict=True)
            ]
        )

    @rpc_stream
    def TranslateStream(
        self, request: translation_pb2.TranslateRequest, context: grpc.ServicerContext
    ) -> Iterator[translation_pb2.TranslateEvent]:
        source, target, fmt, glossary, budget, alternatives = self._translate_args(request)
        ctx = current_request()
        units = cached = 0
        for item in self.translator.translate_stream(
            [s.text for s in request.segments],
            source,
            target,
            ctx,
            fmt=fmt,
            glossary=glossary,
            fields=_segment_fields(request),
            budget=budget,
            alternatives=alternatives,
        ):
            if isinstance(item, StreamedUnit):
                units += 1
                cached += item.cached
                yield translation_pb2.TranslateEvent(
                    unit=translation_pb2.TranslatedUnit(
                        segment_index=item.segment,
                        segment_id=request.segments[item.segment].id,
                        unit_index=item.index,
                        source_start=item.source_start,
                        source_end=item.source_end,
                        text=item.text,
                        cached=item.cached,
                        output_truncated=item.truncated,
                        quality=_quality_pb(item.quality),
                    )
                )
            else:
                yield translation_pb2.TranslateEvent(
                    segment_done=translation_pb2.SegmentDone(
                        segment_index=item.segment,
                        translation=_translation_pb(
                            request.segments[item.segment].id, item.result, with_text=False
                        ),
                    )
                )
        yield translation_pb2.TranslateEvent(
            done=translation_pb2.StreamDone(units=units, cached_units=cached)
        )

    @rpc_method
    def TranslateDocument(
        self, request: translation_pb2.TranslateDocumentRequest, context: grpc.ServicerContext
    ) -> translation_pb2.TranslateDocumentResponse:
        check = Checker(self.settings)
        source = check.language(
            "source_language_code", request.source_language_code, required=False
        )
        target = check.language("target_language_code", request.target_language_code, required=True)
        check.file("content", request.content)
        glossary = _glossary(check, "glossary", request.glossary)
        check.done("content")
        if source and target:
            self.translator.route(source, target)
        done = self.files.translate(
            request.content,
            request.mime_type,
            request.file_name,
            source,
            target,
            current_request(),
            glossary=glossary,
            budget=check.budget(),
        )
        return translation_pb2.TranslateDocumentResponse(
            content=done.content,
            mime_type=done.mime_type,
            file_name=done.file_name,
            detected_language=common_pb2.DetectedLanguage(
                language_code=done.source, confidence=done.confidence
            ),
            route=common_pb2.ModelRoute(models=done.route, demo=done.demo),
            quality=_quality_pb(done.quality),
            applied_terms=done.applied_terms,
            missed_terms=done.missed_terms,
            markup_degraded=done.markup_degraded,
            units=done.units,
            cached_units=done.cached_units,
            flagged=[
                translation_pb2.FlaggedUnit(location=where, flags=sorted(_FLAGS[f] for f in flags))
                for where, flags in done.flagged
            ],
            characters=done.characters,
        )

    @rpc_method
    def DetectLanguage(
        self, request: translation_pb2.DetectLanguageRequest, context: grpc.ServicerContext
    ) -> translation_pb2.DetectLanguageResponse:
        check = Checker(self.settings)
        check.count("texts", len(request.texts), self.settings.max_segments, "max_segments")
        for i, text in enumerate(request.texts):
            check.text(f"texts[{i}]", text)
        check.done("texts")
        # Truthful: a text in a language newsmt does not serve is named as such ("de").
        found = [self.detector.identify(text) for text in request.texts]
        return translation_pb2.DetectLanguageResponse(
            languages=[
                common_pb2.DetectedLanguage(language_code=f.code, confidence=f.confidence)
                for f in found
            ]
        )

    @rpc_method
    def ListLanguages(
        self, request: translation_pb2.ListLanguagesRequest, context: grpc.ServicerContext
    ) -> translation_pb2.ListLanguagesResponse:
        pool = self.translator.pool
        pairs = []
        for source in languages.SUPPORTED:
            for target in languages.SUPPORTED:
                if source == target:
                    continue
                try:
                    route = self.translator.route(source, target)
                except InvalidArgument:  # no route in this registry: not listed
                    continue
                served = [pool.info(spec.name) for spec in route]
                pairs.append(
                    translation_pb2.LanguagePair(
                        source_language_code=source,
                        target_language_code=target,
                        models=[spec.name for spec in route],
                        available=all(m.state is ModelState.READY for m in served),
                        demo=any(m.demo for m in served),
                        max_input_tokens=min(spec.max_input_tokens for spec in route),
                    )
                )
        summarizer = pool.registry.summarizer()
        summaries = summarizer is not None and pool.is_ready(summarizer.name)
        return translation_pb2.ListLanguagesResponse(
            pairs=pairs,
            summary_language_codes=list(languages.SUPPORTED) if summarizer else [],
            summaries_available=summaries,
        )

    @rpc_method
    def ListModels(
        self, request: translation_pb2.ListModelsRequest, context: grpc.ServicerContext
    ) -> translation_pb2.ListModelsResponse:
        return translation_pb2.ListModelsResponse(
            models=[
                translation_pb2.ModelInfo(
                    name=m.spec.name,
                    task=m.spec.task,
                    source_language_code=m.spec.source,
                    target_language_code=m.spec.target,
                    repo=m.spec.repo,
                    revision=m.spec.revision,
                    engine=m.engine_kind or m.spec.engine,
                    state=_STATES[m.state],
                    loaded=m.state is ModelState.READY,
                    demo=m.demo,
                    max_input_tokens=m.spec.max_input_tokens,
                    detail=m.detail,
                )
                for m in self.translator.pool.models()
            ]
        )


class SummarizationServicer(summarization_pb2_grpc.SummarizationServiceServicer):
    def __init__(self, settings: Settings, summarizer: Summarizer) -> None:
        self.settings = settings
        self.summarizer = summarizer

    @rpc_method
    def Summarize(
        self, request: summarization_pb2.SummarizeRequest, context: grpc.ServicerContext
    ) -> summarization_pb2.SummarizeResponse:
        check = Checker(self.settings)
        source = check.language(
            "source_language_code", request.source_language_code, required=False
        )
        target = check.language(
            "target_language_code", request.target_language_code, required=False
        )
        check.document("text", request.text)
        length = _length(check, "length", request.length)
        policy = _policy(check, "long_input_policy", request.long_input_policy)
        fmt = _format(check, "format", request.format)
        check.done("text")
        ctx = current_request()
        summary = self.summarizer.summarize(
            request.text, source, target, length, policy, ctx, fmt=fmt, budget=check.budget()
        )
        return summarization_pb2.SummarizeResponse(
            summary=summary.text,
            detected_language=common_pb2.DetectedLanguage(
                language_code=summary.source, confidence=summary.confidence
            ),
            target_language_code=summary.target,
            input_handling=_handling(summary.handling),
            route=common_pb2.ModelRoute(models=summary.route, demo=summary.demo),
            faithfulness=_faithfulness_pb(summary),
        )


class ArticleServicer(article_pb2_grpc.ArticleServiceServicer):
    def __init__(self, settings: Settings, processor: ArticleProcessor) -> None:
        self.settings = settings
        self.processor = processor

    @rpc_method
    def ProcessArticle(
        self, request: article_pb2.ProcessArticleRequest, context: grpc.ServicerContext
    ) -> article_pb2.ProcessArticleResponse:
        check = Checker(self.settings)
        source = check.language(
            "source_language_code", request.source_language_code, required=False
        )
        targets = check.languages("target_language_codes", request.target_language_codes)
        summary_languages = check.languages(
            "summary_language_codes", request.summary_language_codes
        )
        check.document("title", request.title)
        check.document("body", request.body)
        if len(request.title) > self.settings.max_segment_chars:
            check.fail(
                "title",
                f"is {len(request.title)} characters; the limit is "
                f"{self.settings.max_segment_chars} (--max-segment-chars)",
            )
        length = _length(check, "summary_length", request.summary_length)
        policy = _policy(check, "long_input_policy", request.long_input_policy)
        fmt = _format(check, "format", request.format)
        glossary = _glossary(check, "glossary", request.glossary)
        check.done("body")
        article = Article(
            request.id,
            request.title,
            request.body,
            source,
            targets,
            summary_languages,
            length,
            policy,
            fmt,
            glossary,
            check.budget(),
        )
        ctx = current_request()
        return _article_pb(self.processor.process(article, ctx))


def _length(check: Checker, field: str, length: common_pb2.SummaryLength) -> Length:
    which = length.WhichOneof("limit")
    settings = check.settings
    if which == "max_tokens":
        if not 8 <= length.max_tokens <= settings.max_summary_tokens:
            check.fail(f"{field}.max_tokens", f"must be 8..{settings.max_summary_tokens}")
        return Length(max_tokens=length.max_tokens)
    if which == "max_sentences":
        if not 1 <= length.max_sentences <= settings.max_summary_sentences:
            check.fail(f"{field}.max_sentences", f"must be 1..{settings.max_summary_sentences}")
        return Length(max_sentences=length.max_sentences)
    return Length()


def _policy(check: Checker, field: str, value: common_pb2.LongInputPolicy.ValueType) -> LongInput:
    if value not in _POLICIES:
        check.fail(field, f"unknown value {value}")
        return LongInput.CHUNK
    return _POLICIES[value]


def _format(check: Checker, field: str, value: common_pb2.TextFormat.ValueType) -> Format:
    if value not in _FORMATS:
        check.fail(field, f"unknown value {value}")
        return "plain"
    return _FORMATS[value]


def _glossary(
    check: Checker, field: str, entries: Iterable[common_pb2.GlossaryEntry]
) -> Glossary | None:
    return check.glossary(field, [Entry(e.source, e.target, e.ignore_case) for e in entries])


_FLAGS = {flag: common_pb2.QualityFlag.Value(f"QUALITY_FLAG_{flag.name}") for flag in Flag}


def _quality_pb(q: SegmentQuality | None) -> common_pb2.Quality:
    if q is None:
        return common_pb2.Quality()
    return common_pb2.Quality(
        mean_logprob=q.mean_logprob or 0.0,
        flags=sorted(_FLAGS[f] for f in q.flags),
        calibrated=q.calibrated,
        flagged_sentences=q.flagged_sentences,
        sentences=q.sentences,
    )


def _faithfulness_pb(summary: Summary) -> common_pb2.Faithfulness:
    f = summary.faithfulness
    if f is None:
        return common_pb2.Faithfulness()
    return common_pb2.Faithfulness(
        novel_bigram_ratio=f.novel_bigram_ratio,
        coverage=f.coverage,
        density=f.density,
        compression=f.compression,
        unsupported_numbers=f.unsupported_numbers,
        unsupported_entities=f.unsupported_entities,
        flagged=f.flagged,
        checked_against_language_code=summary.checked_against,
    )


def _handling(h: Handling) -> common_pb2.InputHandling:
    return common_pb2.InputHandling(
        mode=_MODES[h.mode],
        chunks=h.chunks,
        input_tokens=h.input_tokens,
        window_tokens=h.window_tokens,
        dropped_tokens=h.dropped_tokens,
        reduce_passes=h.reduce_passes,
    )


def _summary_pb(
    language: str, summary: Summary | None, error: NewsmtError | None
) -> article_pb2.ArticleSummary:
    code, message = stage_code(error)
    out = article_pb2.ArticleSummary(
        language_code=language, status=common_pb2.StageStatus(code=code, message=message)
    )
    if summary is not None:
        out.summary = summary.text
        out.input_handling.CopyFrom(_handling(summary.handling))
        out.route.CopyFrom(common_pb2.ModelRoute(models=summary.route, demo=summary.demo))
        out.faithfulness.CopyFrom(_faithfulness_pb(summary))
    return out


def _article_pb(result: ArticleResult) -> article_pb2.ProcessArticleResponse:
    translations = []
    for t in result.translations:
        code, message = stage_code(t.error)
        translations.append(
            article_pb2.ArticleTranslation(
                target_language_code=t.target,
                title=t.title,
                body=t.body,
                route=common_pb2.ModelRoute(models=t.route, demo=t.demo),
                output_truncated=t.truncated,
                status=common_pb2.StageStatus(code=code, message=message),
                applied_terms=t.applied_terms,
                missed_terms=t.missed_terms,
                markup_degraded=t.markup_degraded,
                quality=_quality_pb(t.quality),
            )
        )
    return article_pb2.ProcessArticleResponse(
        id=result.id,
        detected_language=common_pb2.DetectedLanguage(
            language_code=result.source, confidence=result.confidence
        ),
        translations=translations,
        summaries=[_summary_pb(s.language, s.summary, s.error) for s in result.summaries],
        demo=result.demo,
    )
