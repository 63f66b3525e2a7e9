"""The translation cache wired into the service: what hits, what misses, what is counted."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsmt.client import Client, GlossaryEntry, StreamDone
from newsmt.core.context import RequestContext
from newsmt.models.pool import ModelPool
from newsmt.models.registry import Registry
from newsmt.models.store import ModelStore
from newsmt.pipeline.cache import TranslationCache
from newsmt.pipeline.config import PipelineConfig
from newsmt.pipeline.detect import LanguageDetection
from newsmt.pipeline.translate import Translator
from newsmt.server.app import NewsmtServer

from .conftest import build_tiny, running_server
from .support import metric, scrape

EN_RU = "opus-mt-en-ru"

ARTICLE = (
    "MOSCOW (Reuters) - The central bank raised its key rate on Friday. "
    "Analysts had expected the move. Markets rose after the decision."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NewsmtServer, str]]:
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path_factory.mktemp("empty")) as running:
        yield running


@pytest.fixture
def client(server: tuple[NewsmtServer, str]) -> Iterator[Client]:
    with Client(server[1], timeout=30) as c:
        yield c


def calls(server: NewsmtServer, model: str = EN_RU) -> int:
    batcher = server.pool.info(model).batcher
    assert batcher is not None
    return batcher.stats.engine_calls


def test_same_request_twice_makes_no_engine_call(
    server: tuple[NewsmtServer, str], client: Client
) -> None:
    srv, _ = server
    texts = [ARTICLE + " Once.", "<p>A <b>bold</b> move. Then more.</p>"]
    first = client.translate(texts[:1], target="ru", source="en")
    html = client.translate(texts[1:], target="ru", source="en", format="html")
    before = calls(srv)
    again = client.translate(texts[:1], target="ru", source="en")
    html_again = client.translate(texts[1:], target="ru", source="en", format="html")
    assert calls(srv) == before
    assert [t.text for t in again] == [t.text for t in first]
    assert [t.text for t in html_again] == [t.text for t in html]
    for result in (*again, *html_again):
        assert result.units >= 2
        assert result.cached_units == result.units
    assert first[0].cached_units == 0
    assert again[0].quality == first[0].quality


def test_detected_and_explicit_source_share_an_entry(
    server: tuple[NewsmtServer, str], client: Client
) -> None:
    srv, _ = server
    text = "The prime minister arrived in Berlin for talks on trade and energy."
    client.translate([text], target="ru", source="en")
    before = calls(srv)
    detected = client.translate([text], target="ru")
    assert detected[0].detected_language.language == "en"
    assert calls(srv) == before
    assert detected[0].cached_units == 1


def test_a_different_target_misses(server: tuple[NewsmtServer, str], client: Client) -> None:
    srv, _ = server
    text = "Officials said the bridge would reopen next week after repairs."
    client.translate([text], target="ru", source="en")
    before = calls(srv, "opus-mt-en-es")
    other = client.translate([text], target="es", source="en")
    assert calls(srv, "opus-mt-en-es") == before + 1
    assert other[0].cached_units == 0


def test_nfc_and_nfd_forms_are_one_entry(server: tuple[NewsmtServer, str], client: Client) -> None:
    srv, _ = server
    nfc = "The café in São Paulo reopened on Monday morning."
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    first = client.translate([nfc], target="ru", source="en")
    before = calls(srv)
    second = client.translate([nfd], target="ru", source="en")
    assert calls(srv) == before
    assert second[0].cached_units == 1
    # The identity engine's output is its input: each form comes back as it was sent.
    assert first[0].text == nfc
    assert second[0].text == nfd


def test_glossary_entries_key_only_when_they_match(
    server: tuple[NewsmtServer, str], client: Client
) -> None:
    srv, _ = server
    text = "The Kremlin said the talks would continue in Geneva next month."
    # A glossary asks for alignments, which keys apart from a plain run; entries that do not
    # occur in the unit do not.
    client.translate([text], target="ru", source="en", glossary=[GlossaryEntry("Rome", "Рим")])
    unrelated = [GlossaryEntry("Paris", "Париж")]
    before = calls(srv)
    hit = client.translate([text], target="ru", source="en", glossary=unrelated)
    assert calls(srv) == before and hit[0].cached_units == 1
    matching = [GlossaryEntry("Geneva", "Женева")]
    miss = client.translate([text], target="ru", source="en", glossary=matching)
    assert calls(srv) == before + 1 and miss[0].cached_units == 0
    assert "Женева" in miss[0].text
    again = client.translate([text], target="ru", source="en", glossary=matching)
    assert again[0].text == miss[0].text and again[0].cached_units == 1


def test_a_different_setting_misses(server: tuple[NewsmtServer, str]) -> None:
    srv, _ = server
    text = "Rescue teams worked through the night to reach the village."
    ctx = RequestContext(timeout=30)
    same = Translator(srv.pool, srv.detector, srv.translator.config, cache=srv.cache)
    same.translate([text], "en", "ru", ctx)
    before = calls(srv)
    assert same.translate([text], "en", "ru", ctx)[0].cached_units == 1
    assert calls(srv) == before
    other = Translator(srv.pool, srv.detector, PipelineConfig(output_ratio=3.0), cache=srv.cache)
    assert other.translate([text], "en", "ru", ctx)[0].cached_units == 0
    assert calls(srv) == before + 1


def test_metrics_add_up(server: tuple[NewsmtServer, str], client: Client) -> None:
    srv, _ = server
    assert srv.metrics_port is not None
    text = ["Two sentences here. And a second one about the weather in Oslo."]
    start = srv.cache.stats()
    client.translate(text, target="ru", source="en")
    client.translate(text, target="ru", source="en")
    stats = srv.cache.stats()
    assert stats.misses - start.misses == 2 and stats.hits - start.hits == 2
    # One after the other, nothing was in flight to join; every lookup is one of the three.
    assert stats.coalesced == start.coalesced
    assert stats.lookups - start.lookups == 4
    assert stats.lookups == stats.hits + stats.misses + stats.coalesced
    assert stats.in_flight == 0
    page = scrape(srv.metrics_port)
    assert metric(page, "newsmt_cache_hits_total") == stats.hits
    assert metric(page, "newsmt_cache_misses_total") == stats.misses
    assert metric(page, "newsmt_cache_coalesced_total") == stats.coalesced
    assert metric(page, "newsmt_cache_evictions_total") == stats.evictions
    assert metric(page, "newsmt_cache_entries") == stats.entries == len(srv.cache)
    assert 0 < metric(page, "newsmt_cache_bytes") == stats.bytes <= stats.max_bytes


def test_cache_off_calls_the_engine_every_time(tmp_path: Path) -> None:
    registry = Registry.load().with_engine("identity")
    with running_server(registry, model_dir=tmp_path, cache_bytes=0) as (srv, address):
        with Client(address, timeout=30) as c:
            c.translate(["One sentence about rain."], target="ru", source="en")
            before = calls(srv)
            again = c.translate(["One sentence about rain."], target="ru", source="en")
        assert calls(srv) == before + 1
        assert again[0].cached_units == 0 and again[0].units == 1
        assert srv.cache.stats().entries == 0


def test_changed_model_files_miss(tmp_path: Path) -> None:
    """A demo model is keyed by the digest of its files: change a file and reload, and the
    entries made before are never read back."""
    build_tiny(tmp_path, [EN_RU])
    pool = ModelPool(Registry.load(), ModelStore(tmp_path))
    cache = TranslationCache(1 << 20)
    translator = Translator(pool, LanguageDetection(), cache=cache)
    ctx = RequestContext(timeout=60)
    try:
        first = pool.load(EN_RU).identity
        assert first is not None and first.weights.startswith("files:")
        text = "Heavy snow closed the mountain roads."
        translator.translate([text], "en", "ru", ctx)
        assert translator.translate([text], "en", "ru", ctx)[0].cached_units == 1
        local = pool.store.locate(pool.registry.models[EN_RU])
        assert local is not None
        (local.path / "NOTES.txt").write_text("retrained\n", encoding="utf-8")
        second = pool.load(EN_RU).identity
        assert second is not None and second.weights.startswith("files:")
        assert second.weights != first.weights and second.key == first.key
        assert translator.translate([text], "en", "ru", ctx)[0].cached_units == 0
    finally:
        pool.close()


def test_process_article_and_streams_share_the_cache(
    server: tuple[NewsmtServer, str], client: Client
) -> None:
    srv, _ = server
    title = "Floods hit the north"
    body = "Rivers burst their banks overnight. Hundreds of homes were evacuated."
    client.translate([title, body], target="ru", source="en")
    before = calls(srv)
    result = client.process_article(title, body, source="en", targets=["ru"])
    assert result.translations[0].body == body
    streamed = list(client.translate_stream([body], target="ru", source="en"))
    assert calls(srv) == before
    done = streamed[-1]
    assert isinstance(done, StreamDone) and done.units == done.cached_units == 2
