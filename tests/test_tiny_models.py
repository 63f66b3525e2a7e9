"""Tiny demo models through the real transformers engine: the same loading and generation
code as the real opus-mt and distilbart models, with random weights."""

from __future__ import annotations

from pathlib import Path

from newsmt.client import Client
from newsmt.engines.base import EngineOptions
from newsmt.models.factory import create_engine
from newsmt.models.registry import Registry
from newsmt.models.store import ModelStore

from .conftest import seed_text


def test_models_load_as_demo(tiny_client: Client) -> None:
    models = tiny_client.list_models()
    assert len(models) == 5
    assert all(m.loaded and m.demo and m.engine == "transformers" for m in models)


def test_translate_marks_demo_and_bounds_output(tiny_client: Client) -> None:
    out = tiny_client.translate(
        ["The minister arrived in Moscow on Tuesday.", ""], source="en", target="ru"
    )
    assert out[0].text.strip()
    assert out[0].route.models == ("opus-mt-en-ru",) and out[0].route.demo
    assert out[1].text == "" and out[1].route.models == ()


def test_generation_settings_come_from_the_model(tiny_model_dir: Path) -> None:
    registry = Registry.load()
    store = ModelStore(tiny_model_dir)
    marian = registry.models["opus-mt-en-ru"]
    local = store.locate(marian)
    assert local is not None and local.demo
    engine = create_engine(marian, local.path, demo=True, options=EngineOptions())
    assert engine.settings.num_beams == 4  # opus-mt's own generation_config
    tokens = engine.encode("Hello world.")
    assert tokens[-1] == "</s>"
    bart = registry.models["distilbart-cnn-12-6"]
    bart_engine = create_engine(bart, store.locate(bart).path, demo=True, options=EngineOptions())  # type: ignore[union-attr]
    assert bart_engine.settings.num_beams == 4
    assert bart_engine.settings.no_repeat_ngram_size == 3
    assert bart_engine.settings.length_penalty == 2.0


def test_registry_generation_overrides(tiny_model_dir: Path, tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "service/newsmt/models/registry.toml").read_text()
    text = text.replace(
        'source = "en"\ntarget = "ru"\nmax_input_tokens = 512\n',
        'source = "en"\ntarget = "ru"\nmax_input_tokens = 512\n\n[models.opus-mt-en-ru.generation]\nnum_beams = 1\n',
        1,
    )
    (tmp_path / "r.toml").write_text(text)
    spec = Registry.load(tmp_path / "r.toml").models["opus-mt-en-ru"]
    local = ModelStore(tiny_model_dir).locate(spec)
    engine = create_engine(spec, local.path, demo=True, options=EngineOptions())  # type: ignore[union-attr]
    assert engine.settings.num_beams == 1


def test_long_article_is_chunked_through_the_real_summarizer(tiny_client: Client) -> None:
    summary = tiny_client.summarize(seed_text() * 2, source="en", max_tokens=16)
    h = summary.input_handling
    assert h.mode == "chunked" and h.chunks >= 2 and h.input_tokens > h.window_tokens
    assert summary.text and summary.route.demo


def test_process_article_end_to_end(tiny_client: Client) -> None:
    result = tiny_client.process_article(
        "Russian envoy says the U.S. asked him to defect",
        seed_text(),
        targets=["ru", "es"],
        summaries=["en", "ru", "es"],
        max_sentences=3,
    )
    assert result.ok, [(s.language, s.status) for s in result.summaries]
    assert result.demo
    assert all(t.body and t.route.demo for t in result.translations)
    assert all(s.text for s in result.summaries)
