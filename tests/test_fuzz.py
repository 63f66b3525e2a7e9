"""Hypothesis-driven requests against a real server: garbage in, a deliberate answer out.

No crash, no UNKNOWN, no answer later than its deadline plus a small margin; every invalid
request gets INVALID_ARGUMENT naming the field; every valid one comes back exactly (identity).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsmt.core import languages
from newsmt.models.registry import Registry
from newsmt.pipeline.detect import LanguageDetection
from newsmt.pipeline.documents import parse
from newsmt.server.app import NewsmtServer
from newsmt.v1 import (
    article_pb2,
    article_pb2_grpc,
    summarization_pb2,
    summarization_pb2_grpc,
    translation_pb2,
    translation_pb2_grpc,
)

from .conftest import running_server

MAX_SEGMENTS = 6
MAX_CHARS = 400
MAX_BYTES = 600
DEADLINE = 5.0
MARGIN = 1.0

NOISE = [
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u202e",
    "\u2066",
    "\u2069",
    "\x00",
    "\x07",
    "\x1b[31m",
    "😀",
    "🇷🇺",
    "👩‍👩‍👧",
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "&amp;",
    "Привет",
    "¿Qué?",
    "ñandú",
    "日本語",
    "\t",
    "\r\n",
    "\n\n",
    "   ",
    ".",
    "...",
    "!?",
    "1234",
    "http://x.y/z?q=1",
]
texts = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120),
    st.lists(st.sampled_from(NOISE) | st.text(max_size=12), max_size=30).map("".join),
    st.text(alphabet="ab .", min_size=MAX_CHARS - 5, max_size=MAX_CHARS + 20),
)
codes = st.sampled_from(
    ["", "en", "ru", "es", "EN", "es-419", "ru_RU", "de", "xx", "ру", "e" * 40, "\x00"]
)


def valid_code(code: str, required: bool) -> bool:
    normalized = languages.normalize(code)
    return normalized in languages.SUPPORTED or (not required and not normalized)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NewsmtServer, str]]:
    registry = Registry.load().with_engine("identity")
    with running_server(
        registry,
        model_dir=tmp_path_factory.mktemp("fuzz"),
        max_segments=MAX_SEGMENTS,
        max_segment_chars=MAX_CHARS,
        max_document_bytes=MAX_BYTES,
        max_request_chars=MAX_CHARS * 4,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def channel(fuzz_server: tuple[NewsmtServer, str]) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(fuzz_server[1]) as ch:
        yield ch


@functools.cache
def detection() -> LanguageDetection:
    return LanguageDetection()


def unserved(text: str) -> bool:
    """Whether detection names `text`'s language as one newsmt does not serve (the server then
    refuses it, naming it)."""
    found = detection().identify(text)
    return bool(found.code) and not found.served


def model_chars(segments: list[str], source: str) -> int:
    """What the segments send to the models (plain text: their sentence units)."""
    total = 0
    for text in segments:
        language = languages.normalize(source) or detection().identify(text).code
        if language in languages.SUPPORTED:
            doc = parse(text, "plain", language)
            total += sum(len(u.text) for u in doc.units if u.needs_model)
    return total


def article_language(title: str, body: str, source: str) -> str:
    """ProcessArticle's language: the source given, or detected on title and body together."""
    return languages.normalize(source) or detection().identify(f"{title}\n\n{body}").code


def violations(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "INVALID_ARGUMENT without a google.rpc.Status"
    bad = error_details_pb2.BadRequest()
    assert status.details and status.details[0].Unpack(bad)
    return [v.field for v in bad.field_violations]


def timed(call, request):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    try:
        return call(request, timeout=DEADLINE), None
    except grpc.RpcError as exc:
        return None, exc
    finally:
        assert time.monotonic() - started < DEADLINE + MARGIN


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(segments=st.lists(texts, max_size=MAX_SEGMENTS + 3), source=codes, target=codes)
def test_translate(channel: grpc.Channel, segments: list[str], source: str, target: str) -> None:
    stub = translation_pb2_grpc.TranslationServiceStub(channel)
    request = translation_pb2.TranslateRequest(
        segments=[translation_pb2.Segment(id=str(i), text=t) for i, t in enumerate(segments)],
        source_language_code=source,
        target_language_code=target,
    )
    response, error = timed(stub.Translate, request)
    valid = (
        valid_code(source, required=False)
        and valid_code(target, required=True)
        and len(segments) <= MAX_SEGMENTS
        and all(len(t.encode()) <= MAX_BYTES for t in segments)
        and model_chars(segments, source) <= MAX_CHARS * 4
        and (languages.normalize(source) or not any(unserved(t) for t in segments))
    )
    if valid:
        assert error is None, (error.code(), error.details())
        assert [t.translated_text for t in response.translations] == segments
        assert [t.id for t in response.translations] == [str(i) for i in range(len(segments))]
    else:
        assert error is not None and error.code() is grpc.StatusCode.INVALID_ARGUMENT
        fields = violations(error)
        assert fields and all(
            f in {"source_language_code", "target_language_code", "segments", ""}
            or f.startswith("segments[")
            for f in fields
        ), fields


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    title=texts,
    body=texts,
    source=codes,
    targets=st.lists(codes, max_size=4),
    summaries=st.lists(codes, max_size=4),
)
def test_process_article(
    channel: grpc.Channel,
    title: str,
    body: str,
    source: str,
    targets: list[str],
    summaries: list[str],
) -> None:
    stub = article_pb2_grpc.ArticleServiceStub(channel)
    request = article_pb2.ProcessArticleRequest(
        title=title,
        body=body,
        source_language_code=source,
        target_language_codes=targets,
        summary_language_codes=summaries,
    )
    response, error = timed(stub.ProcessArticle, request)
    normalized = [languages.normalize(c) for c in targets]
    valid = (
        valid_code(source, required=False)
        and all(valid_code(c, required=True) for c in targets + summaries)
        and len(set(normalized)) == len(normalized)
        and len({languages.normalize(c) for c in summaries}) == len(summaries)
        and len(title) <= MAX_CHARS
        and len(title.encode()) <= MAX_BYTES
        and len(body.encode()) <= MAX_BYTES
        and model_chars([title, body], article_language(title, body, source)) <= MAX_CHARS * 4
        and (languages.normalize(source) or not unserved(f"{title}\n\n{body}"))
    )
    if not valid:
        assert error is not None and error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert violations(error)
        return
    assert error is None, (error.code(), error.details())
    assert len(response.translations) == len(targets) and len(response.summaries) == len(summaries)
    for stage in [*response.translations, *response.summaries]:
        # A stage may fail on its own (an undetectable language), never with UNKNOWN.
        assert stage.status.code in (0, grpc.StatusCode.INVALID_ARGUMENT.value[0]), stage.status
        if stage.status.code:
            assert stage.status.message
    for t in response.translations:
        if t.status.code == 0:
            assert (t.title, t.body) == (title, body)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=texts,
    source=codes,
    target=codes,
    max_tokens=st.integers(0, 2000),
    policy=st.integers(-1, 5),
)
def test_summarize(
    channel: grpc.Channel, text: str, source: str, target: str, max_tokens: int, policy: int
) -> None:
    stub = summarization_pb2_grpc.SummarizationServiceStub(channel)
    request = summarization_pb2.SummarizeRequest(
        text=text,
        source_language_code=source,
        target_language_code=target,
        long_input_policy=policy,
    )
    if max_tokens:
        request.length.max_tokens = max_tokens
    response, error = timed(stub.Summarize, request)
    if error is not None:
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
        assert violations(error)
    else:
        assert response.input_handling.mode != 0


@pytest.mark.parametrize(
    "payload",
    [
        b"\n\x05\x12\x03\xed\xa0\x80",  # a lone surrogate (CESU-8), in segments[0].text
        b"\n\x04\x12\x02\xff\xfe",  # not UTF-8 at all
        b"\x1a\x03\xc3\x28x",  # broken sequence in target_language_code
        b"\xff\xff\xff",  # not a protobuf message
    ],
)
def test_undecodable_requests_are_invalid_argument(channel: grpc.Channel, payload: bytes) -> None:
    call = channel.unary_unary(
        "/newsmt.v1.TranslationService/Translate",
        request_serializer=lambda b: b,
        response_deserializer=translation_pb2.TranslateResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as info:
        call(payload, timeout=DEADLINE)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_oversize_message_is_refused_by_size(tmp_path: Path) -> None:
    registry = Registry.load().with_engine("identity")
    with (
        running_server(
            registry, model_dir=tmp_path, max_message_bytes=4096, max_document_bytes=2048
        ) as (_, address),
        grpc.insecure_channel(address) as ch,
    ):
        stub = translation_pb2_grpc.TranslationServiceStub(ch)
        with pytest.raises(grpc.RpcError) as info:
            stub.Translate(
                translation_pb2.TranslateRequest(
                    segments=[translation_pb2.Segment(text="x" * 10_000)], target_language_code="ru"
                ),
                timeout=5,
            )
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=st.lists(st.sampled_from(NOISE) | st.text(max_size=8), min_size=1, max_size=10).map(
        "".join
    )
)
def test_noisy_input_through_a_real_model_is_bounded_and_flagged(
    tiny_server: tuple[NewsmtServer, str], text: str
) -> None:
    """Random-weight models never stop on their own: every output runs to its bound, and must
    come back cut there and flagged, never as if it were a translation."""
    from newsmt.client import Client

    with Client(tiny_server[1], timeout=30, retries=0) as client:
        started = time.monotonic()
        [out] = client.translate([text], source="en", target="ru")
        assert time.monotonic() - started < 30
    from newsmt.pipeline.documents import parse

    # A sentence with a letter (outside URLs, e-mail addresses, handles, hashtags) goes to the
    # model; digits, punctuation and protected spans alone come back as they are.
    if any(unit.needs_model for unit in parse(text, "plain", "en").units):
        assert out.output_truncated
        assert out.route.demo
    else:
        assert out.text == text and not out.output_truncated
