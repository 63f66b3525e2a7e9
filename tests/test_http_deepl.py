"""The DeepL-compatible API driven by the unmodified official `deepl` client (server_url set
to newsmt), on the identity engine: text with and without HTML, usage, languages, a
document, and DeepL's errors as the client maps them (auth, 429, 456, 400, 404)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import deepl
import pytest
import requests

from newsmt.models.registry import Registry
from newsmt.server.app import NewsmtServer

from .conftest import running_server

KEY = "deepl-key-0123456789abcdef"


def translator(server: NewsmtServer, key: str = KEY) -> deepl.Translator:
    return deepl.Translator(key, server_url=f"http://127.0.0.1:{server.http_port}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NewsmtServer]:
    tokens = tmp_path_factory.mktemp("tokens") / "tokens"
    tokens.write_text(KEY + "\n")
    registry = Registry.load().with_engine("identity")
    with running_server(
        registry, model_dir=tmp_path_factory.mktemp("models"), auth_tokens_file=tokens
    ) as (running, _):
        yield running


@pytest.fixture(autouse=True)
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client retries 429 and 5xx with backoff (seconds each); the tests look at the
    first answer. The module-level setting is the client's own switch for this."""
    monkeypatch.setattr(deepl.http_client, "max_network_retries", 0)


def test_translate_text_plain_and_html(server: NewsmtServer) -> None:
    t = translator(server)
    one = t.translate_text("The minister resigned on Monday.", source_lang="EN", target_lang="RU")
    assert isinstance(one, deepl.TextResult)
    assert one.text == "The minister resigned on Monday."
    assert one.detected_source_lang == "EN"
    assert one.billed_characters == len("The minister resigned on Monday.")
    page = '<p>The <b>prime minister</b> resigned. <a href="/live">Follow live</a>.</p>'
    [html] = t.translate_text([page], target_lang="ES", source_lang="EN", tag_handling="html")
    assert html.text == page
    many = t.translate_text(["Hello there.", "Привет всем, как дела?"], target_lang="EN-US")
    assert [r.text for r in many] == ["Hello there.", "Привет всем, как дела?"]
    assert many[1].detected_source_lang == "RU"
    # Accepted and without effect: context, sentence splitting, formatting, prefer_* formality.
    hinted = t.translate_text(
        "Hello.",
        target_lang="RU",
        context="A news story.",
        split_sentences="nonewlines",
        preserve_formatting=True,
        formality="prefer_more",
    )
    assert hinted.text == "Hello."


def test_languages_and_usage(server: NewsmtServer) -> None:
    t = translator(server)
    assert [(lang.code, lang.name) for lang in t.get_source_languages()] == [
        ("EN", "English"),
        ("ES", "Spanish"),
        ("RU", "Russian"),
    ]
    targets = t.get_target_languages()
    assert [lang.code for lang in targets] == ["EN-GB", "EN-US", "ES", "ES-419", "RU"]
    assert not any(lang.supports_formality for lang in targets)
    before = t.get_usage()
    assert before.character.limit == 10**12 and not before.any_limit_reached
    t.translate_text("Twelve chars", target_lang="ES", source_lang="EN")
    assert t.get_usage().character.count == before.character.count + 12


def test_translate_document_plain_text(server: NewsmtServer, tmp_path: Path) -> None:
    t = translator(server)
    text = "Breaking news.\n\nThe minister resigned on Monday.\nMore soon.\n"
    source = tmp_path / "story.txt"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "story.ru.txt"
    status = t.translate_document_from_filepath(source, out, target_lang="RU")
    assert status.done and status.billed_characters == len(text)
    assert out.read_text(encoding="utf-8") == text
    markdown = io.BytesIO()
    page = "# Title\n\nSome *emphasis* and a [link](https://example.com).\n"
    t.translate_document(page.encode(), markdown, target_lang="ES", filename="page.md")
    assert markdown.getvalue().decode() == page


def test_document_is_downloaded_once_and_needs_its_key(server: NewsmtServer) -> None:
    t = translator(server)
    handle = t.translate_document_upload(b"Hello there.", target_lang="RU", filename="a.txt")
    status = t.translate_document_wait_until_done(handle)
    assert status.done
    wrong = deepl.DocumentHandle(handle.document_id, "0" * 64)
    with pytest.raises(deepl.DeepLException, match="Not found"):
        t.translate_document_get_status(wrong)
    first = io.BytesIO()
    t.translate_document_download(handle, first)
    assert first.getvalue() == b"Hello there."
    assert t.translate_document_get_status(handle).status.value == "downloaded"
    with pytest.raises(deepl.DeepLException, match="Not found"):
        t.translate_document_download(handle, io.BytesIO())


def test_translate_document_docx_keeps_every_part(server: NewsmtServer, tmp_path: Path) -> None:
    """A Word file through the unmodified DeepL client: the identity engine gives back every
    zip entry as it was."""
    import zipfile

    from .files_samples import docx_file

    data = docx_file()
    source = tmp_path / "report.docx"
    source.write_bytes(data)
    out = tmp_path / "report.ru.docx"
    status = translator(server).translate_document_from_filepath(source, out, target_lang="RU")
    assert status.done and status.billed_characters > 100

    def entries(blob: bytes) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            return {i.filename: z.read(i) for i in z.infolist()}

    assert entries(out.read_bytes()) == entries(data)


def test_document_errors(server: NewsmtServer) -> None:
    t = translator(server)
    with pytest.raises(deepl.DeepLException, match="not supported"):
        t.translate_document_upload(b"%PDF-1.7", target_lang="RU", filename="paper.pdf")
    # A broken deck is taken, and its job ends in an error that says why.
    with pytest.raises(deepl.DocumentTranslationException, match="PPTX"):
        t.translate_document(b"PK\x03\x04", io.BytesIO(), target_lang="RU", filename="deck.pptx")
    # Not text in any encoding: a UTF-16 mark on an odd number of bytes.
    with pytest.raises(deepl.DeepLException, match="not text"):
        t.translate_document(b"\xff\xfebad", io.BytesIO(), target_lang="RU", filename="x.txt")


def test_deepl_errors_through_the_client(server: NewsmtServer) -> None:
    with pytest.raises(deepl.AuthorizationException):
        translator(server, "wrong-key-0123456789abcdef").translate_text("x", target_lang="RU")
    t = translator(server)
    with pytest.raises(deepl.DeepLException, match="formality"):
        t.translate_text("x", target_lang="RU", formality="more")
    with pytest.raises(deepl.DeepLException, match="target_lang"):
        t.translate_text("x", target_lang="DE")
    with pytest.raises(deepl.DeepLException, match="Not found"):
        t.translate_text("x", source_lang="EN", target_lang="RU", glossary="no-such-glossary")
    with pytest.raises(deepl.DeepLException, match="tag_handling"):
        t.translate_text("<x/>", target_lang="RU", tag_handling="xml")


def test_curl_style_form_requests(server: NewsmtServer) -> None:
    """As the API docs show it: a form body, repeated `text`, the key in the header."""
    r = requests.post(
        f"http://127.0.0.1:{server.http_port}/v2/translate",
        data=[("text", "One."), ("text", "Two."), ("target_lang", "ru"), ("source_lang", "en")],
        headers={"Authorization": f"DeepL-Auth-Key {KEY}"},
        timeout=30,
    )
    assert r.status_code == 200
    assert [x["text"] for x in r.json()["translations"]] == ["One.", "Two."]
    missing = requests.post(
        f"http://127.0.0.1:{server.http_port}/v2/translate",
        data={"text": "x", "target_lang": "RU"},
        timeout=30,
    )
    assert missing.status_code == 403 and "message" in missing.json()


def test_rate_limit_and_quota(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(KEY + "\n")
    registry = Registry.load().with_engine("identity")
    with running_server(
        registry,
        model_dir=tmp_path,
        auth_tokens_file=tokens,
        rate_limit_rps=0.5,
        rate_limit_burst=3,
        deepl_character_quota=10,
    ) as (server, _):
        t = translator(server)
        t.translate_text("Five!", target_lang="RU", source_lang="EN")
        usage = t.get_usage()
        assert (usage.character.count, usage.character.limit) == (5, 10)
        with pytest.raises(deepl.QuotaExceededException):
            t.translate_text("Six ch", target_lang="RU", source_lang="EN")
        with pytest.raises(deepl.TooManyRequestsException):
            t.translate_text("x", target_lang="RU", source_lang="EN")
        r = requests.post(
            f"http://127.0.0.1:{server.http_port}/v2/usage",
            headers={"Authorization": f"DeepL-Auth-Key {KEY}"},
            timeout=30,
        )
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
