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
    return engine.generate(rows, max_new_tokens=12)


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


@pytest.mark.parametrize("name", ["opus-mt-en-ru", "distilbart-cnn-12-6"])
def test_float32_engine_matches_transformers_token_for_token(converted: Path, name: str) -> None:
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
    assert (hf.kind, ct2.kind) == ("transformers", "ctranslate2")
    assert ct2.settings == hf.settings  # the model's own generation settings, both engines
    assert ct2.encode(SENTENCES[0]) == hf.encode(SENTENCES[0])
    assert greedy(ct2, SENTENCES) == greedy(hf, SENTENCES)


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
        f"s = Settings.load({{'port': 0, 'metrics_port': -1, 'model_dir': {str(converted)!r}}},"
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
