"""The whole path through a real server on the identity engine: exact results, in order."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from newsmt.client import AsyncClient, Client, Segment

from .conftest import seed_text


def test_article_comes_back_byte_for_byte(identity_client: Client) -> None:
    text = seed_text()
    [result] = identity_client.translate([text], target="ru", source="en")
    assert result.text == text
    assert result.route.models == ("opus-mt-en-ru",)
    assert result.route.demo  # identity output is not a translation, and says so
    assert not result.output_truncated


def test_segments_keep_ids_and_order(identity_client: Client) -> None:
    segments = [Segment(id=f"s{i}", text=f"Sentence number {i}. And another.") for i in range(40)]
    out = identity_client.translate(segments, target="es", source="en")
    assert [t.id for t in out] == [s.id for s in segments]
    assert [t.text for t in out] == [s.text for s in segments]


def test_empty_segments_never_reach_a_model(identity_client: Client) -> None:
    out = identity_client.translate(["", "   \n ", "Real text here."], target="ru", source="en")
    assert [t.text for t in out] == ["", "   \n ", "Real text here."]
    assert out[0].route.models == () and out[1].route.models == ()
    assert out[2].route.models == ("opus-mt-en-ru",)


def test_source_detected_per_segment(identity_client: Client) -> None:
    out = identity_client.translate(
        ["The president spoke to reporters on Monday.", "Президент выступил перед журналистами."],
        target="es",
    )
    assert out[0].detected_language.language == "en"
    assert out[0].route.models == ("opus-mt-en-es",)
    assert out[1].detected_language.language == "ru"
    assert out[1].route.models == ("opus-mt-ru-en", "opus-mt-en-es")  # pivot through English
    assert 0.5 < out[1].detected_language.confidence <= 1.0


def test_pivot_paths(identity_client: Client) -> None:
    [es] = identity_client.translate(["Президент выступил."], source="ru", target="es")
    [ru] = identity_client.translate(["El presidente habló."], source="es", target="ru")
    assert (
        es.route.models == ("opus-mt-ru-en", "opus-mt-en-es") and es.text == "Президент выступил."
    )
    assert (
        ru.route.models == ("opus-mt-es-en", "opus-mt-en-ru") and ru.text == "El presidente habló."
    )


def test_same_language_returns_text_unchanged(identity_client: Client) -> None:
    [out] = identity_client.translate(["Already English."], source="en", target="en")
    assert out.text == "Already English." and out.route.models == ()


def test_long_sentence_is_split_and_rejoined(identity_client: Client) -> None:
    sentence = " ".join(f"word{i}" for i in range(2000)) + "."
    [out] = identity_client.translate([sentence], source="en", target="ru")
    assert out.text == sentence


def test_detect_language(identity_client: Client) -> None:
    found = identity_client.detect_language(
        [
            "The weather is nice today.",
            "Сегодня хорошая погода.",
            "Hoy hace buen tiempo.",
            "",
            "1234",
        ]
    )
    assert [d.language for d in found] == ["en", "ru", "es", "", ""]
    assert found[3].confidence == 0.0


def test_process_article_exact_with_every_stage(identity_client: Client) -> None:
    text = seed_text()
    result = identity_client.process_article(
        "Envoy says", text, id="a1", targets=["ru", "es"], summaries=["en", "ru", "es"]
    )
    assert result.ok, result
    assert result.id == "a1"
    assert result.detected_language.language == "en"
    assert [t.language for t in result.translations] == ["ru", "es"]
    assert all(t.body == text and t.title == "Envoy says" for t in result.translations)
    assert [s.language for s in result.summaries] == ["en", "ru", "es"]
    en, ru, es = result.summaries
    assert en.text and en.text == ru.text == es.text  # one English summary, translated (identity)
    assert en.route.models == ("distilbart-cnn-12-6",)
    assert ru.route.models == ("distilbart-cnn-12-6", "opus-mt-en-ru")
    assert en.input_handling.mode == "chunked" and en.input_handling.chunks >= 2
    assert result.demo


def test_russian_article_summarized_into_english(identity_client: Client) -> None:
    body = "Президент выступил перед журналистами в понедельник. " * 5
    result = identity_client.process_article("Заголовок", body, summaries=["en"])
    [summary] = result.summaries
    assert result.detected_language.language == "ru"
    assert summary.status.ok
    assert summary.route.models == ("opus-mt-ru-en", "distilbart-cnn-12-6")


def test_summarize_handling_modes(identity_client: Client) -> None:
    short = "A short text. It fits the window."
    whole = identity_client.summarize(short, source="en")
    assert whole.input_handling.mode == "whole" and whole.input_handling.chunks == 1
    assert whole.text == short
    long = seed_text() * 3
    chunked = identity_client.summarize(long, source="en")
    assert chunked.input_handling.mode == "chunked"
    assert chunked.input_handling.chunks >= 4
    assert chunked.input_handling.input_tokens > chunked.input_handling.window_tokens
    truncated = identity_client.summarize(long, source="en", long_input="truncate")
    assert truncated.input_handling.mode == "truncated"
    assert truncated.input_handling.dropped_tokens == (
        truncated.input_handling.input_tokens - truncated.input_handling.window_tokens
    )


def test_summary_length_controls(identity_client: Client) -> None:
    text = "One sentence here. Two sentences here. Three sentences here. Four."
    assert identity_client.summarize(text, source="en", max_sentences=2).text == (
        "One sentence here. Two sentences here."
    )
    capped = identity_client.summarize(text, source="en", max_tokens=8)
    assert capped.text and len(capped.text) < len(text)


def test_cross_lingual_summary(identity_client: Client) -> None:
    out = identity_client.summarize("Президент выступил.", target="es")
    assert out.detected_language.language == "ru" and out.language == "es"
    assert out.route.models == ("opus-mt-ru-en", "distilbart-cnn-12-6", "opus-mt-en-es")


def test_list_languages_and_models(identity_client: Client) -> None:
    languages = identity_client.list_languages()
    pairs = {(p.source, p.target): p for p in languages.pairs}
    assert set(pairs) == {(s, t) for s in ("en", "ru", "es") for t in ("en", "ru", "es") if s != t}
    assert pairs[("ru", "es")].models == ("opus-mt-ru-en", "opus-mt-en-es")
    assert all(p.available and p.max_input_tokens == 512 for p in pairs.values())
    assert languages.summaries_available and set(languages.summary_languages) == {"en", "ru", "es"}
    models = {m.name: m for m in identity_client.list_models()}
    assert len(models) == 5
    assert models["distilbart-cnn-12-6"].max_input_tokens == 1024
    assert all(m.engine == "identity" and m.loaded and m.state == "ready" for m in models.values())


def test_health_and_reflection(identity_server) -> None:  # type: ignore[no-untyped-def]
    _, address = identity_server
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in (
            "",
            "newsmt.v1.TranslationService",
            "newsmt.v1.SummarizationService",
            "newsmt.v1.ArticleService",
        ):
            status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING, service
        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        [response] = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
        names = {s.name for s in response.list_services_response.service}
        assert {
            "newsmt.v1.TranslationService",
            "newsmt.v1.ArticleService",
            "grpc.health.v1.Health",
        } <= names


def test_async_client(identity_server) -> None:  # type: ignore[no-untyped-def]
    _, address = identity_server

    async def main() -> None:
        async with AsyncClient(address, timeout=30) as client:
            await client.wait_until_serving(timeout=10)
            results = await asyncio.gather(
                *(client.translate([f"Text {i}."], source="en", target="ru") for i in range(10))
            )
            assert [r[0].text for r in results] == [f"Text {i}." for i in range(10)]
            article = await client.process_article(
                "T", "Body text.", targets=["es"], summaries=["en"]
            )
            assert article.ok and article.translations[0].body == "Body text."

    asyncio.run(main())


def test_repetition_in_the_source_is_not_a_runaway(identity_client: Client) -> None:
    [out] = identity_client.translate(["ha ha ha ha ha ha"], source="en", target="ru")
    assert out.text == "ha ha ha ha ha ha" and not out.output_truncated
