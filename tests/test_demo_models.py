"""Tiny demo models: built offline, loaded with the real transformers classes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BartForConditionalGeneration,
    MarianMTModel,
    MarianTokenizer,
)

from newsmt.models.demo import DEMO_MARKER, is_demo_model, make_demo_model

EN_RU = "Helsinki-NLP/opus-mt-en-ru"
ES_EN = "Helsinki-NLP/opus-mt-es-en"
DISTILBART = "sshleifer/distilbart-cnn-12-6"
WEIGHTS = "model.safetensors"
MARIAN_FILES = {
    "config.json",
    "generation_config.json",
    WEIGHTS,
    "source.spm",
    "target.spm",
    "vocab.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    DEMO_MARKER,
}
BART_FILES = {
    "config.json",
    "generation_config.json",
    WEIGHTS,
    "vocab.json",
    "merges.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    DEMO_MARKER,
}
ENGLISH = "Heavy rain caused flooding across the northern region on Monday."
RUSSIAN = "Щедрый ёжик съел яблоко; Министерство объявило о новых выборах в Государственную думу."
SPANISH = "¿Qué pasó? El señor Muñoz, pingüino y cigüeña, leyó un artículo sobre la economía."


def _tiny(factory: pytest.TempPathFactory, architecture: str, mirrors: str, seed: int = 0) -> Path:
    out_dir = factory.mktemp(f"{architecture}-{seed}") / "model"
    return make_demo_model(architecture, out_dir, mirrors=mirrors, size="tiny", seed=seed)  # type: ignore[arg-type]


def _read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "marian", EN_RU)


@pytest.fixture(scope="module")
def bart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory, "bart", DISTILBART)


# ---------------------------------------------------------------------------- Marian


def test_marian_has_the_real_repo_files(marian_dir: Path) -> None:
    assert {p.name for p in marian_dir.iterdir()} == MARIAN_FILES


def test_marian_vocab_matches_config_and_id_layout(marian_dir: Path) -> None:
    config = _read_json(marian_dir / "config.json")
    vocab = _read_json(marian_dir / "vocab.json")
    size = config["vocab_size"]
    assert len(vocab) == size == config["decoder_vocab_size"]
    assert sorted(vocab.values()) == list(range(size))
    assert (vocab["</s>"], vocab["<unk>"], vocab["<pad>"]) == (0, 1, size - 1)
    assert config["pad_token_id"] == config["decoder_start_token_id"] == size - 1
    assert config["bad_words_ids"] == [[size - 1]]
    assert config["max_position_embeddings"] == 512
    generation = _read_json(marian_dir / "generation_config.json")
    assert generation["bad_words_ids"] == [[size - 1]]
    assert (generation["num_beams"], generation["max_length"]) == (4, 512)


def test_marian_loads_and_generates_with_real_classes(marian_dir: Path) -> None:
    tokenizer = MarianTokenizer.from_pretrained(marian_dir)
    model = MarianMTModel.from_pretrained(marian_dir)
    assert tokenizer.vocab_size == model.config.vocab_size
    assert tokenizer.model_max_length == 512
    assert (tokenizer.source_lang, tokenizer.target_lang) == ("en", "ru")
    assert model.config.d_model == 16 and model.config.encoder_layers == 1
    assert model.lm_head.weight is model.model.shared.weight

    batch = tokenizer([ENGLISH], return_tensors="pt")
    assert tokenizer.unk_token_id not in batch.input_ids[0].tolist()
    output = model.generate(**batch, max_new_tokens=6, num_beams=1)
    vocab = tokenizer.get_vocab()
    tokens = tokenizer.convert_ids_to_tokens(output[0].tolist())
    assert output.shape[1] > 1
    # Filler ids are suppressed, so every generated token is a trained piece or special.
    assert not [token for token in tokens if token.startswith("<demo_")]
    assert all(token in vocab for token in tokens)


def test_russian_target_spm_covers_cyrillic(marian_dir: Path) -> None:
    tokenizer = MarianTokenizer.from_pretrained(marian_dir)
    ids = tokenizer(text_target=RUSSIAN).input_ids[:-1]  # drop </s>
    assert len(ids) > 10
    assert ids.count(tokenizer.unk_token_id) / len(ids) < 0.05


def test_spanish_source_spm_covers_accents(tmp_path_factory: pytest.TempPathFactory) -> None:
    model_dir = _tiny(tmp_path_factory, "marian", ES_EN)
    marker = _read_json(model_dir / DEMO_MARKER)
    assert (marker["source_language"], marker["target_language"]) == ("es", "en")
    tokenizer = MarianTokenizer.from_pretrained(model_dir)
    ids = tokenizer(SPANISH).input_ids[:-1]
    assert len(ids) > 10
    assert ids.count(tokenizer.unk_token_id) / len(ids) < 0.05


# ---------------------------------------------------------------------------- BART


def test_bart_has_the_real_repo_files(bart_dir: Path) -> None:
    assert {p.name for p in bart_dir.iterdir()} == BART_FILES


def test_bart_config_keeps_legacy_keys_after_loading(bart_dir: Path) -> None:
    config = AutoConfig.from_pretrained(bart_dir)
    assert config.model_type == "bart"
    assert config.normalize_before is False
    assert config.add_final_layer_norm is False
    assert config.normalize_embedding is True
    assert config.static_position_embeddings is False
    assert config.extra_pos_embeddings == 2
    assert config.max_position_embeddings == 1024


def test_bart_vocab_has_the_real_id_layout(bart_dir: Path) -> None:
    config = _read_json(bart_dir / "config.json")
    vocab = _read_json(bart_dir / "vocab.json")
    size = config["vocab_size"]
    # As in distilbart-cnn-12-6: "<mask>" is the one id past the embedding rows.
    assert len(vocab) == size + 1
    assert sorted(vocab.values()) == list(range(size + 1))
    assert [vocab[t] for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] == [0, 1, 2, 3, size]


def test_bart_loads_round_trips_and_generates(bart_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(bart_dir)
    model = BartForConditionalGeneration.from_pretrained(bart_dir)
    assert tokenizer.model_max_length == 1024
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert tokenizer.mask_token_id == model.config.vocab_size == len(tokenizer) - 1

    ids = tokenizer(ENGLISH).input_ids
    assert ids[0] == 0 and ids[-1] == 2
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == ENGLISH

    generation = model.generation_config
    assert (generation.num_beams, generation.min_length, generation.max_length) == (4, 56, 142)
    batch = tokenizer([ENGLISH], return_tensors="pt")
    output = model.generate(**batch, max_new_tokens=6, min_length=0, num_beams=1)
    assert output.shape[1] > 1
    assert not [t for t in tokenizer.convert_ids_to_tokens(output[0]) if t.startswith("<demo_")]


# ---------------------------------------------------------------------------- marker, seeds


@pytest.mark.parametrize("fixture", ["marian_dir", "bart_dir"])
def test_marker_records_the_build(fixture: str, request: pytest.FixtureRequest) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    marker = _read_json(model_dir / DEMO_MARKER)
    assert is_demo_model(model_dir)
    assert marker["demo"] is True
    assert marker["size"] == "tiny" and marker["seed"] == 0
    assert marker["mirrors"] in (EN_RU, DISTILBART)
    assert marker["created_by"] == "newsmt models make-demo"


def test_is_demo_model_false_without_marker(marian_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes((marian_dir / "config.json").read_bytes())
    assert not is_demo_model(tmp_path)
    assert not is_demo_model(tmp_path / "missing")


@pytest.mark.parametrize(("architecture", "mirrors"), [("marian", EN_RU), ("bart", DISTILBART)])
def test_same_seed_same_files_other_seed_other_weights(
    architecture: str, mirrors: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    first = _tiny(tmp_path_factory, architecture, mirrors, seed=7)
    again = _tiny(tmp_path_factory, architecture, mirrors, seed=7)
    other = _tiny(tmp_path_factory, architecture, mirrors, seed=8)
    for name in {p.name for p in first.iterdir()}:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    weights, other_weights = load_file(first / WEIGHTS), load_file(other / WEIGHTS)
    assert weights.keys() == other_weights.keys()
    assert not torch.equal(weights["model.shared.weight"], other_weights["model.shared.weight"])


# ---------------------------------------------------------------------------- building


def test_rebuild_replaces_in_place_without_leftovers(tmp_path: Path) -> None:
    out_dir = tmp_path / "models" / "demo"
    make_demo_model("bart", out_dir, mirrors=DISTILBART, size="tiny", seed=1)
    (out_dir / "stale.txt").write_text("from an older build")
    make_demo_model("bart", out_dir, mirrors=DISTILBART, size="tiny", seed=2)
    assert not (out_dir / "stale.txt").exists()
    assert _read_json(out_dir / DEMO_MARKER)["seed"] == 2
    assert [p.name for p in out_dir.parent.iterdir()] == ["demo"]


def test_files_share_the_directory_mode(bart_dir: Path) -> None:
    # safetensors creates its file 0600; a server running as another user must still read it.
    modes = {path.name: path.stat().st_mode & 0o777 for path in bart_dir.iterdir()}
    assert set(modes.values()) == {bart_dir.stat().st_mode & 0o666}, modes


@pytest.mark.parametrize(
    ("architecture", "mirrors", "languages"),
    [
        ("marian", "Helsinki-NLP/opus-mt-en-de", {}),  # no German corpus
        ("marian", "facebook/bart-large", {}),  # not an opus-mt repo
        ("marian", EN_RU, {"source_language": "ru"}),  # contradicts the repo name
        ("bart", "facebook/bart-large-cnn", {}),  # different architecture sizes
        ("t5", "t5-small", {}),
    ],
)
def test_rejects_what_it_cannot_imitate(
    architecture: str, mirrors: str, languages: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(ValueError):
        make_demo_model(architecture, tmp_path / "m", mirrors=mirrors, size="tiny", **languages)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- Tokenizer classes


@pytest.mark.parametrize("fixture", ["marian_dir", "bart_dir"])
def test_tokenizer_class_is_autotokenizers_choice(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    # The engines import the tokenizer class directly (AutoTokenizer's import pulls in
    # PyTorch); if transformers ever maps these architectures elsewhere, this fails.
    from transformers import AutoTokenizer

    from newsmt.engines.hf_tokenizer import tokenizer_class

    path: Path = request.getfixturevalue(fixture)
    auto = AutoTokenizer.from_pretrained(path)
    ours = tokenizer_class(path).from_pretrained(path)
    assert type(ours) is type(auto)
    text = "Anatoly Antonov, Russia's ambassador, said: «Привет!» ¿Qué pasa? 1,234 km."
    assert ours(text)["input_ids"] == auto(text)["input_ids"]
