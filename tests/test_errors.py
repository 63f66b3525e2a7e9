"""Error codes: each failure class gets its deliberate status and names what is wrong."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from newsmt.client import Client, InvalidArgumentError, ModelUnavailableError
from newsmt.models.registry import Registry
from newsmt.v1 import translation_pb2, translation_pb2_grpc

from .conftest import build_tiny, running_server


def test_unsupported_pair_names_the_field(identity_client: Client) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.translate(["Hallo Welt."], source="de", target="ru")
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in info.value.violations] == ["source_language_code"]
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.translate(["Hello."], target="fr")
    assert [v.field for v in info.value.violations] == ["target_language_code"]


def test_request_id_comes_back_in_trailers(identity_server) -> None:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(identity_server[1]) as channel:
        stub = translation_pb2_grpc.TranslationServiceStub(channel)
        _, call = stub.ListModels.with_call(
            translation_pb2.ListModelsRequest(), timeout=5, metadata=[("x-request-id", "rid-123")]
        )
        assert ("x-request-id", "rid-123") in call.trailing_metadata()
        _, call = stub.ListModels.with_call(translation_pb2.ListModelsRequest(), timeout=5)
        [generated] = [v for k, v in call.trailing_metadata() if k == "x-request-id"]
        assert len(generated) == 32
        with pytest.raises(grpc.RpcError) as info:
            stub.Translate(
                translation_pb2.TranslateRequest(target_language_code="xx"),
                timeout=5,
                metadata=[("x-request-id", "rid-err")],
            )
        trailers = dict(info.value.trailing_metadata())  # type: ignore[attr-defined]
        assert trailers["x-request-id"] == "rid-err"
        assert "grpc-status-details-bin" in trailers  # rich details survive alongside


def test_missing_target_is_invalid(identity_client: Client) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.translate(["Hello."], target="")
    assert info.value.violations[0].field == "target_language_code"
    assert "required" in info.value.violations[0].description


def test_bad_request_detail_is_standard(identity_server) -> None:  # type: ignore[no-untyped-def]
    """Any gRPC client can read the violation from the standard google.rpc.BadRequest detail."""
    with grpc.insecure_channel(identity_server[1]) as channel:
        stub = translation_pb2_grpc.TranslationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Translate(translation_pb2.TranslateRequest(target_language_code="xx"), timeout=5)
        status = rpc_status.from_call(info.value)
        assert status is not None and status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        bad = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad)
        assert bad.field_violations[0].field == "target_language_code"


def test_limits(identity_server, identity_client: Client) -> None:  # type: ignore[no-untyped-def]
    settings = identity_server[0].settings
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.translate(["x"] * (settings.max_segments + 1), source="en", target="ru")
    assert info.value.violations[0].field == "segments"
    # One segment may use the whole request's budget of characters for the models ...
    limit = settings.max_request_chars
    page = ("word " * (limit // 5))[: limit - 1] + "."
    [whole] = identity_client.translate([page], source="en", target="ru")
    assert whole.text == page and len(page) == limit
    # ... and no more: the error names the field, the limit and its flag.
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.translate(
            ["y" * (settings.max_request_chars // 2), "z" * (settings.max_request_chars // 2 + 1)],
            source="en",
            target="ru",
        )
    [violation] = info.value.violations
    assert violation.field == "segments[1].text"
    assert f"the limit is {settings.max_request_chars} (--max-request-chars)" in str(info.value)
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.summarize("text", source="en", max_tokens=settings.max_summary_tokens + 1)
    assert info.value.violations[0].field == "length.max_tokens"
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.process_article("t", "b", targets=["ru", "ru"])
    assert info.value.violations[0].field == "target_language_codes[1]"


def test_markup_is_limited_by_bytes_and_only_text_by_characters(tmp_path: Path) -> None:
    registry = Registry.load().with_engine("identity")
    with (
        running_server(
            registry,
            model_dir=tmp_path,
            max_document_bytes=2000,
            max_request_chars=100,
            max_segment_chars=100,
        ) as (_, address),
        Client(address, timeout=30) as client,
    ):
        # 1,900 bytes of markup around 38 characters of text: within both limits.
        markup = '<div class="' + "x" * 1800 + '">'
        page = f"{markup}<p>The minister resigned on Tuesday.</p></div>"
        assert len(page.encode()) < 2000
        [out] = client.translate([page], source="en", target="ru", format="html")
        assert out.text == page
        # The same sentence as plain text, four times over, is over the characters budget.
        with pytest.raises(InvalidArgumentError) as info:
            client.translate(["The minister resigned on Tuesday. " * 4], source="en", target="ru")
        assert "(--max-request-chars)" in str(info.value)
        # More bytes than a document may have, whatever its text.
        with pytest.raises(InvalidArgumentError) as info:
            client.translate([page + "<!--" + "y" * 200 + "-->"], target="ru", format="html")
        [violation] = info.value.violations
        assert violation.field == "segments[0].text"
        assert "the limit is 2000 (--max-document-bytes)" in violation.description


def test_reject_policy_for_long_input(identity_client: Client) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.summarize("word " * 3000, source="en", long_input="reject")
    assert info.value.violations[0].field == "text"


def test_undetectable_language_asks_for_it(identity_client: Client) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.summarize("12345 67890")
    assert info.value.violations[0].field == "source_language_code"


def test_empty_text_gives_empty_results(identity_client: Client) -> None:
    assert identity_client.summarize("", source="en").text == ""
    assert identity_client.translate([""], target="ru")[0].text == ""
    article = identity_client.process_article("", "", targets=["ru"], summaries=["en"])
    assert article.ok and article.translations[0].body == "" and article.summaries[0].text == ""


def test_missing_model_is_failed_precondition_naming_the_fix(tmp_path: Path) -> None:
    model_dir = build_tiny(
        tmp_path, names=["opus-mt-en-ru", "opus-mt-ru-en", "distilbart-cnn-12-6"]
    )
    with running_server(model_dir=model_dir) as (_, address), Client(address, timeout=60) as client:
        with pytest.raises(ModelUnavailableError) as info:
            client.translate(["Hello."], source="en", target="es")
        assert info.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert "newsmt models pull" in info.value.message
        models = {m.name: m for m in client.list_models()}
        assert models["opus-mt-en-es"].state == "missing" and not models["opus-mt-en-es"].loaded
        assert "newsmt models pull" in models["opus-mt-en-es"].detail
        pairs = {(p.source, p.target): p for p in client.list_languages().pairs}
        assert not pairs[("en", "es")].available and pairs[("en", "ru")].available
        # One failed stage does not lose the others.
        result = client.process_article(
            "Title.", "A body sentence.", source="en", targets=["ru", "es"], summaries=["en", "es"]
        )
        ru, es = result.translations
        assert ru.status.ok and ru.body
        assert es.status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        assert "opus-mt-en-es" in es.status.message
        en_summary, es_summary = result.summaries
        assert en_summary.status.ok and en_summary.text
        assert es_summary.status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        assert not result.ok


def test_custom_registry_rejects_unroutable_pair(tmp_path: Path) -> None:
    registry_file = tmp_path / "registry.toml"
    registry_file.write_text(
        '[models.only-en-ru]\ntask = "translation"\nrepo = "x/y"\narchitecture = "marian"\n'
        'source = "en"\ntarget = "ru"\nengine = "identity"\n'
    )
    registry = Registry.load(registry_file)
    with running_server(registry, model_dir=tmp_path) as (_, address), Client(address) as client:
        assert client.translate(["Hi."], source="en", target="ru")[0].text == "Hi."
        with pytest.raises(InvalidArgumentError) as info:
            client.translate(["Hi."], source="en", target="es")
        assert info.value.violations[0].field == "target_language_code"
        assert "no translation route" in info.value.violations[0].description


def test_lone_surrogates_are_named_and_never_reach_a_model() -> None:
    # grpc rejects such bytes on the wire; an in-process caller (the pipeline's own callers,
    # a future transport) can still hand one over, so validation checks too.
    from newsmt.core.errors import InvalidArgument
    from newsmt.server.settings import Settings
    from newsmt.server.validation import Checker

    checker = Checker(Settings.load({}))
    checker.text("segments[0].text", "clean text")
    checker.text("segments[1].text", "ab\udc80c")
    with pytest.raises(InvalidArgument) as raised:
        checker.done("texts")
    assert [(v.field, v.description) for v in raised.value.violations] == [
        ("segments[1].text", "contains lone surrogate code points")
    ]
