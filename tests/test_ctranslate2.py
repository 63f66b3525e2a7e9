"""CTranslate2: conversion (BART legacy config included), the engine, and engine selection."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from newsmt.client import Client
from newsmt.engines.base import Engine, EngineOptions
from newsmt.models.convert import convert
from newsmt.models.factory import create_engine
from newsmt.models.registry import Registry
from newsmt.models.store import ModelStore

from .conftest import running_server

SENTENCES = ["The minister arrived in Moscow on Tuesday.", "Talks ended late.", "Hello."]


def greedy(engine: Engine, texts: list[str]) -> list[list[str]]:
    engine.settings = replace(engine.settings, num_beams=1)
    rows = [engine.encode(t) for t in texts]
    return [g.tokens for g in engine.generate(rows, max_new_tokens=12)]


@pytest.fixture(scope="module")
def converted(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny models with every model converted (float32 and int8)."""
    root = tmp_path_factory.mktemp("ct2") / "models"
    shutil.copytree(tiny_model_dir, root)
    store = ModelStore(root)
    for spec in Registry.load().models.values():
        local = store.locate(spec)
        assert local is not None
        for compute in ("float32", "int8"):
            store.convert(local, compute)
            assert store.is_converted(local, compute)
    return root


def float32_engines(converted: Path, name: str) -> tuple[Engine, Engine]:
    """The model on transformers and on its float32 CTranslate2 conversion."""
    spec = Registry.load().models[name]
    store = ModelStore(converted)
    local = store.locate(spec)
    assert local is not None
    options = EngineOptions(intra_threads=1)
    hf = create_engine(replace(spec, engine="transformers"), local.path, demo=True, options=options)
    ct2 = create_engine(
        spec,
        local.path,
        demo=True,
        options=options,
        ct2_path=store.ct2_path(local, "float32"),
        compute_type="float32",
    )
    return hf, ct2


@pytest.mark.parametrize("name", ["opus-mt-en-ru", "distilbart-cnn-12-6"])
def test_float32_engine_matches_transformers_token_for_token(converted: Path, name: str) -> None:
    hf, ct2 = float32_engines(converted, name)
    assert (hf.kind, ct2.kind) == ("transformers", "ctranslate2")
    assert ct2.settings == hf.settings  # the model's own generation settings, both engines
    assert ct2.encode(SENTENCES[0]) == hf.encode(SENTENCES[0])
    assert greedy(ct2, SENTENCES) == greedy(hf, SENTENCES)


@pytest.mark.parametrize("name", ["opus-mt-en-ru", "distilbart-cnn-12-6"])
def test_engines_score_and_align_their_outputs(converted: Path, name: str) -> None:
    """Both engines give each row its mean token log-probability and, when asked, one
    attention row per output token over the input tokens; the float32 conversion agrees with
    transformers on the log-probability of the same greedy output."""
    hf, ct2 = float32_engines(converted, name)
    rows = [hf.encode(t) for t in SENTENCES]
    found = {}
    for engine in (hf, ct2):
        engine.settings = replace(engine.settings, num_beams=1)
        plain = engine.generate(rows, max_new_tokens=12)
        aligned = engine.generate(rows, max_new_tokens=12, with_attention=True)
        assert [g.tokens for g in plain] == [g.tokens for g in aligned]
        assert all(g.attention is None for g in plain)
        for row, generated in zip(rows, aligned, strict=True):
            assert generated.logprob is not None and generated.logprob < 0
            assert generated.attention is not None
            assert len(generated.attention) == len(generated.tokens)
            for weights in generated.attention:
                assert len(weights) == len(row)
                assert sum(weights) == pytest.approx(1.0, abs=1e-3)
        found[engine.kind] = aligned
    for a, b in zip(found["transformers"], found["ctranslate2"], strict=True):
        assert a.tokens == b.tokens
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3)


def test_both_engines_give_the_same_next_best_hypotheses(converted: Path) -> None:
    """Alternatives: the best output is the one asked without them (the beam, 4, is wide
    enough for 3), and the float32 conversion and transformers agree on the rest."""
    hf, ct2 = float32_engines(converted, "opus-mt-en-ru")
    rows = [hf.encode(t) for t in SENTENCES]
    found = {}
    for engine in (hf, ct2):
        alone = engine.generate(rows, max_new_tokens=12)
        asked = engine.generate(rows, max_new_tokens=12, hypotheses=3)
        assert [g.tokens for g in asked] == [g.tokens for g in alone]
        assert all(g.alternatives == () for g in alone)
        assert all(len(g.alternatives) == 2 for g in asked)
        assert all(tuple(g.tokens) not in g.alternatives for g in asked)
        found[engine.kind] = [g.alternatives for g in asked]
    assert found["transformers"] == found["ctranslate2"]


def test_identity_engine_aligns_on_the_diagonal() -> None:
    from newsmt.engines.identity import IdentityEngine

    engine = IdentityEngine(name="identity", demo=True, max_input_tokens=512)
    [out] = engine.generate([engine.encode("Hello, world.")], max_new_tokens=9, with_attention=True)
    assert out.tokens == ["Hello,", " ", "world."]
    assert out.logprob == 0.0
    assert out.attention == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def test_bart_config_without_legacy_keys_converts(tiny_model_dir: Path, tmp_path: Path) -> None:
    """transformers 5 BART configs lack normalize_before; the converter must cope."""
    spec = Registry.load().models["distilbart-cnn-12-6"]
    local = ModelStore(tiny_model_dir).locate(spec)
    assert local is not None
    model = tmp_path / "bart"
    shutil.copytree(local.path, model)
    config = json.loads((model / "config.json").read_text())
    for key in ("normalize_before", "add_final_layer_norm"):
        config.pop(key, None)
    (model / "config.json").write_text(json.dumps(config))
    out = convert(model, tmp_path / "bart-ct2", "int8")
    assert (out / "model.bin").exists()
    assert not list(tmp_path.glob(".bart-ct2.*"))  # no staging left behind


def test_server_prefers_ctranslate2_when_converted(converted: Path) -> None:
    with running_server(model_dir=converted) as (_, address), Client(address, timeout=60) as client:
        models = client.list_models()
        assert {m.engine for m in models} == {"ctranslate2"}
        assert all(m.demo for m in models)
        result = client.process_article(
            "Title.",
            "A sentence. Another one.",
            source="en",
            targets=["ru", "es"],
            summaries=["en", "ru"],
        )
        assert result.ok
        assert all(t.body for t in result.translations) and all(s.text for s in result.summaries)


def test_engine_ctranslate2_without_conversion_fails_that_model_only(tiny_model_dir: Path) -> None:
    registry = Registry.load()
    pinned = replace(registry.models["opus-mt-en-es"], engine="ctranslate2")
    registry = replace(registry, models={**registry.models, "opus-mt-en-es": pinned})
    with (
        running_server(registry, model_dir=tiny_model_dir) as (server, address),
        Client(address) as client,
    ):
        models = {m.name: m for m in client.list_models()}
        assert models["opus-mt-en-es"].state == "failed"
        assert models["opus-mt-en-ru"].state == "ready"
        assert client.health("newsmt.v1.TranslationService") == "SERVING"
        assert server.pool.info("opus-mt-en-es").detail.startswith("failed to load")


def test_a_ctranslate2_server_never_imports_torch(converted: Path) -> None:
    import subprocess
    import sys

    # A fresh interpreter: the test session itself has long imported torch.
    code = (
        "import sys\n"
        "from newsmt.server.app import create_server\n"
        "from newsmt.server.settings import Settings\n"
        f"s = Settings.load({{'port': 0, 'metrics_port': -1, 'http_port': -1, 'model_dir': {str(converted)!r}}},"
        " environ={})\n"
        "server, _ = create_server(s)\n"
        "server.start()\n"
        "assert server.wait_until_ready(120)\n"
        "kinds = {m.engine.kind for m in server.pool.models()}\n"
        "server.stop(0)\n"
        "print(sorted(kinds), 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.split()[-1] == "False", out.stdout
    assert "'ctranslate2'" in out.stdout
