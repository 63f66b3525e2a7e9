"""Protobuf <-> plain Python, shared by the sync and async clients."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import cast

from grpc_health.v1 import health_pb2

from newsmt.client import _types as t
from newsmt.v1 import article_pb2, common_pb2, summarization_pb2, translation_pb2

_MODES: dict[int, t.HandlingMode] = {
    common_pb2.InputHandling.MODE_WHOLE: "whole",
    common_pb2.InputHandling.MODE_CHUNKED: "chunked",
    common_pb2.InputHandling.MODE_TRUNCATED: "truncated",
}
_POLICIES = {
    "chunk": common_pb2.LONG_INPUT_POLICY_CHUNK,
    "truncate": common_pb2.LONG_INPUT_POLICY_TRUNCATE,
    "reject": common_pb2.LONG_INPUT_POLICY_REJECT,
}
_FORMATS = {
    "plain": common_pb2.TEXT_FORMAT_PLAIN,
    "html": common_pb2.TEXT_FORMAT_HTML,
    "markdown": common_pb2.TEXT_FORMAT_MARKDOWN,
}
_STATES = {
    translation_pb2.ModelInfo.STATE_READY: "ready",
    translation_pb2.ModelInfo.STATE_LOADING: "loading",
    translation_pb2.ModelInfo.STATE_MISSING: "missing",
    translation_pb2.ModelInfo.STATE_FAILED: "failed",
}


def segments(items: Iterable[str | t.Segment]) -> list[translation_pb2.Segment]:
    """Strings get ids "0", "1", ... in order."""
    out = []
    for i, item in enumerate(items):
        if isinstance(item, t.Segment):
            out.append(translation_pb2.Segment(id=item.id, text=item.text))
        else:
            out.append(translation_pb2.Segment(id=str(i), text=item))
    return out


def translate_request(
    texts: Iterable[str | t.Segment],
    target: str,
    source: str,
    fmt: t.TextFormat = "plain",
    glossary_terms: t.Glossary | None = None,
    alternatives: int = 0,
) -> translation_pb2.TranslateRequest:
    return translation_pb2.TranslateRequest(
        segments=segments(texts),
        source_language_code=source,
        target_language_code=target,
        format=text_format(fmt),
        glossary=glossary(glossary_terms),
        alternatives=alternatives,
    )


def text_format(name: t.TextFormat) -> common_pb2.TextFormat.ValueType:
    try:
        return _FORMATS[name]
    except KeyError:
        raise ValueError(f"format must be one of {', '.join(_FORMATS)}") from None


def glossary(terms: t.Glossary | None) -> list[common_pb2.GlossaryEntry]:
    """A mapping source -> target ("" keeps the term), or a sequence of GlossaryEntry."""
    if not terms:
        return []
    if isinstance(terms, Mapping):
        return [common_pb2.GlossaryEntry(source=s, target=t_) for s, t_ in terms.items()]
    out = []
    for entry in terms:
        if not isinstance(entry, t.GlossaryEntry):
            raise TypeError("glossary: a mapping source -> target, or GlossaryEntry items")
        out.append(
            common_pb2.GlossaryEntry(
                source=entry.source, target=entry.target, ignore_case=entry.ignore_case
            )
        )
    return out


def length(max_tokens: int | None, max_sentences: int | None) -> common_pb2.SummaryLength:
    if max_tokens is not None and max_sentences is not None:
        raise ValueError("set max_tokens or max_sentences, not both")
    if max_tokens is not None:
        return common_pb2.SummaryLength(max_tokens=max_tokens)
    if max_sentences is not None:
        return common_pb2.SummaryLength(max_sentences=max_sentences)
    return common_pb2.SummaryLength()


def policy(name: t.LongInputPolicy) -> common_pb2.LongInputPolicy.ValueType:
    try:
        return _POLICIES[name]
    except KeyError:
        raise ValueError(f"long_input must be one of {', '.join(_POLICIES)}") from None


def summarize_request(
    text: str,
    target: str,
    source: str,
    max_tokens: int | None,
    max_sentences: int | None,
    long_input: t.LongInputPolicy,
    fmt: t.TextFormat = "plain",
) -> summarization_pb2.SummarizeRequest:
    return summarization_pb2.SummarizeRequest(
        text=text,
        source_language_code=source,
        target_language_code=target,
        length=length(max_tokens, max_sentences),
        long_input_policy=policy(long_input),
        format=text_format(fmt),
    )


def article_request(
    title: str,
    body: str,
    *,
    id: str,
    source: str,
    targets: Sequence[str],
    summaries: Sequence[str],
    max_tokens: int | None,
    max_sentences: int | None,
    long_input: t.LongInputPolicy,
    fmt: t.TextFormat = "plain",
    glossary_terms: t.Glossary | None = None,
) -> article_pb2.ProcessArticleRequest:
    return article_pb2.ProcessArticleRequest(
        format=text_format(fmt),
        glossary=glossary(glossary_terms),
        id=id,
        title=title,
        body=body,
        source_language_code=source,
        target_language_codes=list(targets),
        summary_language_codes=list(summaries),
        summary_length=length(max_tokens, max_sentences),
        long_input_policy=policy(long_input),
    )


def detected(pb: common_pb2.DetectedLanguage) -> t.DetectedLanguage:
    return t.DetectedLanguage(pb.language_code, round(pb.confidence, 4))


def detections(pb: translation_pb2.DetectLanguageResponse) -> list[t.DetectedLanguage]:
    return [detected(x) for x in pb.languages]


def health(pb: health_pb2.HealthCheckResponse) -> str:
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(pb.status))


def route(pb: common_pb2.ModelRoute) -> t.Route:
    return t.Route(tuple(pb.models), pb.demo)


def handling(pb: common_pb2.InputHandling) -> t.InputHandling:
    return t.InputHandling(
        _MODES.get(pb.mode, "unspecified"),
        pb.chunks,
        pb.input_tokens,
        pb.window_tokens,
        pb.dropped_tokens,
        pb.reduce_passes,
    )


def translations(pb: translation_pb2.TranslateResponse) -> list[t.Translation]:
    return [translation(x) for x in pb.translations]


def translation(x: translation_pb2.Translation) -> t.Translation:
    return t.Translation(
        x.id,
        x.translated_text,
        detected(x.detected_language),
        route(x.route),
        x.output_truncated,
        tuple(x.applied_terms),
        tuple(x.missed_terms),
        x.markup_degraded,
        quality(x.quality),
        x.cached_units,
        x.units,
        tuple(x.alternatives),
    )


def stream_event(pb: translation_pb2.TranslateEvent) -> t.StreamEvent:
    kind = pb.WhichOneof("event")
    if kind == "unit":
        u = pb.unit
        return t.TranslatedUnit(
            u.segment_index,
            u.segment_id,
            u.unit_index,
            u.source_start,
            u.source_end,
            u.text,
            u.cached,
            u.output_truncated,
            quality(u.quality),
        )
    if kind == "segment_done":
        return t.SegmentDone(
            pb.segment_done.segment_index, translation(pb.segment_done.translation)
        )
    if kind == "done":
        return t.StreamDone(pb.done.units, pb.done.cached_units)
    raise ValueError("a TranslateEvent with no event set")


def flags(values: Iterable[int]) -> tuple[t.QualityFlag, ...]:
    return tuple(
        cast(t.QualityFlag, common_pb2.QualityFlag.Name(f).removeprefix("QUALITY_FLAG_"))  # type: ignore[arg-type]
        for f in values
    )


def document_request(
    content: bytes | str | PathLike[str],
    target: str,
    source: str,
    mime_type: str,
    file_name: str,
    glossary_terms: t.Glossary | None,
) -> translation_pb2.TranslateDocumentRequest:
    """A path is read (its name is the file name unless one is given); bytes are sent as
    they are."""
    if not isinstance(content, bytes):
        path = Path(content)
        content, file_name = path.read_bytes(), file_name or path.name
    return translation_pb2.TranslateDocumentRequest(
        content=content,
        mime_type=mime_type,
        file_name=file_name,
        source_language_code=source,
        target_language_code=target,
        glossary=glossary(glossary_terms),
    )


def translated_document(pb: translation_pb2.TranslateDocumentResponse) -> t.TranslatedDocument:
    return t.TranslatedDocument(
        pb.content,
        pb.mime_type,
        pb.file_name,
        detected(pb.detected_language),
        route(pb.route),
        quality(pb.quality),
        tuple(pb.applied_terms),
        tuple(pb.missed_terms),
        pb.markup_degraded,
        pb.units,
        pb.cached_units,
        tuple(t.FlaggedUnit(f.location, flags(f.flags)) for f in pb.flagged),
    )


def quality(pb: common_pb2.Quality) -> t.Quality:
    return t.Quality(
        pb.mean_logprob,
        flags(pb.flags),
        pb.calibrated,
        pb.flagged_sentences,
        pb.sentences,
    )


def faithfulness(pb: common_pb2.Faithfulness) -> t.Faithfulness:
    return t.Faithfulness(
        pb.novel_bigram_ratio,
        pb.coverage,
        pb.density,
        pb.compression,
        tuple(pb.unsupported_numbers),
        tuple(pb.unsupported_entities),
        pb.flagged,
        pb.checked_against_language_code,
    )


def summary(pb: summarization_pb2.SummarizeResponse) -> t.Summary:
    return t.Summary(
        pb.summary,
        detected(pb.detected_language),
        pb.target_language_code,
        handling(pb.input_handling),
        route(pb.route),
        faithfulness(pb.faithfulness),
    )


def article(pb: article_pb2.ProcessArticleResponse) -> t.ArticleResult:
    return t.ArticleResult(
        id=pb.id,
        detected_language=detected(pb.detected_language),
        translations=[
            t.ArticleTranslation(
                x.target_language_code,
                x.title,
                x.body,
                route(x.route),
                x.output_truncated,
                t.StageStatus(x.status.code, x.status.message),
                tuple(x.applied_terms),
                tuple(x.missed_terms),
                x.markup_degraded,
                quality(x.quality),
            )
            for x in pb.translations
        ],
        summaries=[
            t.ArticleSummary(
                x.language_code,
                x.summary,
                handling(x.input_handling),
                route(x.route),
                t.StageStatus(x.status.code, x.status.message),
                faithfulness(x.faithfulness),
            )
            for x in pb.summaries
        ],
        demo=pb.demo,
    )


def languages(pb: translation_pb2.ListLanguagesResponse) -> t.Languages:
    return t.Languages(
        pairs=[
            t.LanguagePair(
                p.source_language_code,
                p.target_language_code,
                tuple(p.models),
                p.available,
                p.demo,
                p.max_input_tokens,
            )
            for p in pb.pairs
        ],
        summary_languages=tuple(pb.summary_language_codes),
        summaries_available=pb.summaries_available,
    )


def models(pb: translation_pb2.ListModelsResponse) -> list[t.ModelInfo]:
    return [
        t.ModelInfo(
            m.name,
            m.task,
            m.source_language_code,
            m.target_language_code,
            m.repo,
            m.revision,
            m.engine,
            _STATES.get(m.state, "unspecified"),
            m.loaded,
            m.demo,
            m.max_input_tokens,
            m.detail,
        )
        for m in pb.models
    ]
