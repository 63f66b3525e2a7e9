"""The LibreTranslate-compatible API driven by the unmodified official `libretranslatepy`
client (translate, detect, languages), plus what it has no method for (batches, HTML,
files) in LibreTranslate's documented shapes; auth and 429 as the client sees them."""

from __future__ import annotations

import gc
import urllib.error
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from libretranslatepy import LibreTranslateAPI

from newsmt.models.registry import Registry
from newsmt.server.app import NewsmtServer

from .conftest import running_server

KEY = "libre-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def client_sockets() -> Iterator[None]:
    """libretranslatepy reads each response and never closes it (api.py: `urlopen(...)`
    then `.read()`): the socket is closed when collected, with a ResourceWarning. That is
    the client's habit, not the server's: collect them here, where it is expected."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def base(server: NewsmtServer) -> str:
    return f"http://127.0.0.1:{server.http_port}/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NewsmtServer]:
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path_factory.mktemp("models")) as (running, _):
        yield running


def test_translate_detect_languages_with_the_client(server: NewsmtServer) -> None:
    lt = LibreTranslateAPI(base(server))
    assert lt.translate("The minister resigned.", "en", "es") == "The minister resigned."
    assert lt.translate("Министр ушёл в отставку.", "auto", "en") == "Министр ушёл в отставку."
    [found] = lt.detect("Министр ушёл в отставку в понедельник.")
    assert found["language"] == "ru" and 50 <= found["confidence"] <= 100
    languages = {lang["code"]: lang for lang in lt.languages()}
    assert set(languages) == {"en", "es", "ru"}
    assert languages["ru"] == {"code": "ru", "name": "Russian", "targets": ["en", "es"]}


def test_shapes_of_batches_detection_alternatives_and_html(server: NewsmtServer) -> None:
    r = requests.post(
        base(server) + "translate",
        json={"q": ["Hello there.", "Hola a todos."], "source": "auto", "target": "ru"},
        timeout=30,
    )
    body = r.json()
    assert body["translatedText"] == ["Hello there.", "Hola a todos."]
    assert [d["language"] for d in body["detectedLanguage"]] == ["en", "es"]
    assert "alternatives" not in body
    r = requests.post(
        base(server) + "translate",
        json={"q": "<p>Hi <b>there</b>.</p>", "source": "en", "target": "es", "format": "html",
              "alternatives": 2},
        timeout=30,
    )  # fmt: skip
    body = r.json()
    assert body == {"translatedText": "<p>Hi <b>there</b>.</p>", "alternatives": []}
    for bad, status in (
        ({"q": "x", "source": "en", "target": "de"}, 400),
        ({"source": "en", "target": "es"}, 400),
        ({"q": "x", "source": "en", "target": "es", "format": "xml"}, 400),
    ):
        r = requests.post(base(server) + "translate", json=bad, timeout=30)
        assert r.status_code == status and "error" in r.json(), bad


def test_translate_file_then_download_once(server: NewsmtServer) -> None:
    text = "Breaking news.\n\nThe minister resigned.\n"
    r = requests.post(
        base(server) + "translate_file",
        files={"file": ("story.txt", text.encode(), "text/plain")},
        data={"source": "en", "target": "ru"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    link = r.json()["translatedFileUrl"]
    assert link.startswith(base(server) + "download_file/") and link.endswith(".story.txt")
    got = requests.get(link, timeout=30)
    assert got.status_code == 200 and got.content == text.encode()
    assert 'filename="story.txt"' in got.headers["content-disposition"]
    assert requests.get(link, timeout=30).status_code == 404
    bad = requests.post(
        base(server) + "translate_file",
        files={"file": ("paper.pdf", b"%PDF-1.7", "application/pdf")},
        data={"source": "en", "target": "ru"},
        timeout=30,
    )
    assert bad.status_code == 400 and "not supported" in bad.json()["error"]
    broken = requests.post(
        base(server) + "translate_file",
        files={"file": ("deck.pptx", b"PK\x03\x04", "application/octet-stream")},
        data={"source": "en", "target": "ru"},
        timeout=30,
    )
    assert broken.status_code == 400 and "PPTX" in broken.json()["error"]


def test_api_key_and_slowdown_through_the_client(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(KEY + "\n")
    registry = Registry.load().with_engine("identity")
    with running_server(
        registry,
        model_dir=tmp_path,
        auth_tokens_file=tokens,
        rate_limit_rps=0.5,
        rate_limit_burst=2,
    ) as (server, _):
        with pytest.raises(urllib.error.HTTPError) as missing:
            LibreTranslateAPI(base(server)).translate("x", "en", "es")
        assert missing.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as wrong:
            LibreTranslateAPI(base(server), api_key="wrong-key-0123456789").translate("x")
        assert wrong.value.code == 403
        lt = LibreTranslateAPI(base(server), api_key=KEY)
        # The language list answers without a key, as LibreTranslate's does.
        assert len(LibreTranslateAPI(base(server)).languages()) == 3
        assert lt.translate("One.", "en", "es") == "One."
        assert lt.detect("Hello there, friends.")[0]["language"] == "en"
        with pytest.raises(urllib.error.HTTPError) as slow:
            lt.translate("Three.", "en", "es")
        assert slow.value.code == 429
        assert int(slow.value.headers["Retry-After"]) >= 1
        assert b"Slowdown" in slow.value.read()
